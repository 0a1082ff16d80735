"""The command line's options, declared once and shared by the commands that take them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

# (typer reads these annotations at run time: Optional[...], as typer 0.12 (our oldest) refuses X | None)
ProjectDirOpt = Annotated[Optional[Path], typer.Option("-o", "--output-dir", help="The folder `tempscore score` wrote to, when the timeline is not given (default: this folder).")]
OutOpt = Annotated[Optional[Path], typer.Option("-o", "--output-dir", help="Directory for outputs (default: beside the input).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Verbose logs and tracebacks.")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Every figure of the summary, not only the short report.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Re-analyse even if a matching analysis exists.")]

TempoOpt = Annotated[Optional[str], typer.Option("--tempo-range", help="Allowed tempo range in BPM, LOW-HIGH (default 60-140, or the --style's).")]
MinCueOpt = Annotated[float, typer.Option("--min-cue-sec", help="Shortest cue in seconds.")]
BpbOpt = Annotated[int, typer.Option("--beats-per-bar", help="Meter (beats per bar, quarter-note beats).")]
SubOpt = Annotated[int, typer.Option("--subdivision", help="Hits land on beats (1), 8ths (2), triplets (3) or 16ths (4).")]
RampOpt = Annotated[float, typer.Option("--max-ramp", help="Largest tempo ramp onto a hit, percent (0 = constant tempo per cue).")]
PictureStartOpt = Annotated[str, typer.Option("--picture-start", help="First frame of action, in the video's timecode (e.g. 01:00:00:00): no music and no hits before it. auto: after a leader (the video starts under 2 min before a whole hour and is black just before it: bars, countdown, 2-pop); none: frame 0.")]
PictureEndOpt = Annotated[str, typer.Option("--picture-end", help="Where the programme ends: the first frame after the last frame of action, in the video's timecode (e.g. 01:00:20:00): no music and no hits from there on. auto: before a tail (black, then a tail pop 2 s after the action, then e.g. a tail leader), or before at least 1 s of black that ends the video; none: the video's end.")]
EdlOpt = Annotated[bool, typer.Option("--edl", help="Also write <stem>.edl (CMX 3600 with locators).")]
OtioOpt = Annotated[bool, typer.Option("--otio", help="Also write <stem>.otio (OpenTimelineIO with markers).")]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="Ignore the edits in an existing timeline.json.")]
ConformOpt = Annotated[Optional[Path], typer.Option(
    "--conform-from", metavar="TIMELINE",
    help="The timeline.json of an earlier version of this cut saved under another name (cut_v1.timeline.json "
         "for cut_v2.mp4): its edits (locked cues, moods, hits, picks) are carried over, each following its "
         "picture; those whose picture was cut are named. (A new version saved over the old file needs no "
         "option: its edits follow by themselves.)")]
MoodOpt = Annotated[Optional[list[str]], typer.Option("--mood", help="Set a cue's mood, e.g. --mood 'cue 3=tense' (repeatable).")]
PromptOpt = Annotated[Optional[list[str]], typer.Option("--prompt", help="Brief a cue in words, e.g. --prompt 'cue 2: C minor, 70 BPM, 3/4, solo cello, melancholic' "
                                         "(key, tempo, metre in quarter notes, instrument, mood; words not understood are "
                                         "named back; repeatable).")]
RefOpt = Annotated[Optional[Path], typer.Option("--reference", help="A reference track (temp love: wav, mp3, m4a, flac): the score follows its tempo, key, loudness and brightness where the picture allows; kept for later re-plans (--fresh drops it).")]
StyleOpt = Annotated[Optional[str], typer.Option("--style", help="Preset: thriller, drama, action or documentary (tempo range, mood and intensity).")]
VariantsOpt = Annotated[int, typer.Option("--variants", help="Also write N alternatives per cue with an audition WAV each (see `tempscore pick`).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed of the composer (same seed, same notes).")]
ComposerOpt = Annotated[str, typer.Option("--composer", help="auto (trained generator if present), transformer, or rules.")]
Int8Opt = Annotated[bool, typer.Option("--int8", help="Use the int8-quantised generator (faster on CPU).")]
TempOpt = Annotated[float, typer.Option("--temperature", help="Sampling temperature of the generator (> 0).")]
TopPOpt = Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass, 0..1 (1 = off).")]
TopKOpt = Annotated[int, typer.Option("--top-k", help="Sample among the k likeliest tokens (0 = off).")]

LufsOpt = Annotated[Optional[float], typer.Option("--lufs", help="Integrated loudness target of the music, LUFS (default: -23, EBU R128; with a --reference, the reference's level within -31..-14).")]
PeakOpt = Annotated[float, typer.Option("--true-peak", help="True-peak ceiling, dBTP (EBU R128: -1).")]
HoldOpt = Annotated[float, typer.Option("--loudness-hold", help="On a re-render, keep the previous music gain while the loudness stays within this many LU of the target (EBU R128 permits 0.5): unchanged stretches then come out as before and only the changed ones are encoded again. 0: normalise exactly every time.")]
StemsOpt = Annotated[bool, typer.Option("--stems", help="Also write one WAV per section: <stem>.stem-strings.wav, -brass, -woodwinds, -percussion, -keys.")]
TracksOpt = Annotated[str, typer.Option("--tracks", help="Audio tracks of the scored video: all (mix, score, production), separate (score, production), mixed (mix, production).")]
SoundfontOpt = Annotated[Optional[str], typer.Option("--soundfont", help="fluidr3, timgm6mb, musescore or a .sf2 path (default: $TEMPSCORE_SOUNDFONT, else FluidR3 when installed, else TimGM6mb).")]
DuckDepthOpt = Annotated[float, typer.Option("--duck-depth", help="How far the music goes down under dialogue, dB (0 = no ducking).")]
DuckAttackOpt = Annotated[float, typer.Option("--duck-attack", help="Seconds the music takes to go down before a line starts.")]
DuckReleaseOpt = Annotated[float, typer.Option("--duck-release", help="Seconds the music takes to come back after a line ends.")]
DuckRegionsOpt = Annotated[Optional[Path], typer.Option("--duck-regions", help="CSV of dialogue regions start_sec,end_sec (default: the analysis' speech regions, if any).")]
NoReverbOpt = Annotated[bool, typer.Option("--no-reverb", help="Dry render (no hall).")]

ClipOpt = Annotated[str, typer.Option("--clip", help="CLIP emotion: auto (when weights are local) or off.")]
ClipModelOpt = Annotated[str, typer.Option("--clip-model", help="open_clip architecture.")]
ClipPretrainedOpt = Annotated[str, typer.Option("--clip-pretrained", help="open_clip pretrained tag.")]
ClipCheckpointOpt = Annotated[Optional[Path], typer.Option("--clip-checkpoint", help="Local CLIP weights file (or set TEMPSCORE_CLIP_CHECKPOINT).")]
AllowDownloadOpt = Annotated[bool, typer.Option("--allow-download", help="Fetch CLIP weights if not cached.")]
NoDialogueOpt = Annotated[bool, typer.Option("--no-dialogue", help="Skip voice activity detection.")]
ShotDetectorOpt = Annotated[str, typer.Option("--shot-detector", help="auto (classic on CPU, combined with a CUDA GPU), classic, transnet or combined.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Device for TransNetV2: auto, cpu or cuda.")]
WatchOpt = Annotated[bool, typer.Option(
    "--watch", help="After the run, keep watching <stem>.timeline.json and <stem>.ratings.json and score again "
                    "on every save, with the model and soundfont kept loaded (only changed cues are recomposed "
                    "and re-rendered). --mood/--prompt/--reference/--variants apply to the first run "
                    "only (they are in the timeline by then). Ctrl+C stops.")]

MarkersOpt = Annotated[Optional[Path], typer.Option("--markers", help="The editor's markers as hits: a CMX 3600 EDL (locators, Resolve's marker EDL), FCPXML, Premiere/FCP7 XML, an Avid marker list, OTIO or a CSV of timecodes. Red (or 'must', or a to-do marker) is a must-hit, which wins in the tempo fit; the others are should-hits. Kept for later re-plans; the report says hit/near/miss per marker.")]
ClickOpt = Annotated[bool, typer.Option("--click", help="Also write <stem>.click.wav (accented downbeats, a count-in bar before each cue) and a click track in the MIDI.")]
StreamersOpt = Annotated[bool, typer.Option("--streamers", help="Also write <stem>.streamers.mp4: a reference copy of the picture with streamers (green cue start, yellow cue end, red hit), punches, timecode and bar|beat.")]
SessionsOpt = Annotated[bool, typer.Option("--sessions", help="Also write sessions: <stem>.premiere.xml (Premiere/Resolve), <stem>.fcpxml (Final Cut Pro), <stem>.aaf (Pro Tools/Media Composer), <stem>.rpp (REAPER).")]
NotationOpt = Annotated[bool, typer.Option("--notation", help="Also write <stem>.score.musicxml (Dorico, Sibelius, Finale, MuseScore) and, where MuseScore is installed, <stem>.score.pdf.")]
CuesheetOpt = Annotated[bool, typer.Option("--cuesheet", help="Also write <stem>.cuesheet.csv (for the collecting societies) and <stem>.spotting.html (spotting notes with thumbnails).")]
CueComposerOpt = Annotated[str, typer.Option("--cue-composer", help="The composer named on the cue sheet (or cue_composer in tempscore.toml).")]
CuePublisherOpt = Annotated[str, typer.Option("--cue-publisher", help="The publisher named on the cue sheet (or cue_publisher in tempscore.toml).")]
BatchOutOpt = Annotated[Optional[Path], typer.Option("-o", "--output-dir", help="OUT: a folder per video (its path under its folder or manifest, without the extension) and the reports batch.csv, batch.json, index.html.")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="Videos scored at once: local worker processes (default: one per core, fewer when memory is short), or the CPUs of --ray local.")]
RayOpt = Annotated[Optional[str], typer.Option("--ray", metavar="auto|local|ADDRESS", help="Run the videos as Ray tasks (pip install 'tempscore[ray]'): auto, the cluster RAY_ADDRESS or `ray start` names; local, a Ray instance of this machine's own; or a cluster's address (head:6379, ray://head:10001). The videos and OUT must be at the same path on every node.")]
BatchForceOpt = Annotated[bool, typer.Option("--force", help="Score every video again, also those whose outputs are up to date (and analyse them again).")]
