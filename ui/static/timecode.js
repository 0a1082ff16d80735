// SMPTE timecode for the page's playhead, as tempscore writes it (scoring/timecodes.py):
// drop-frame at 29.97/59.94 (";" before the frames), otherwise the rounded rate (23.976 counts 24).
// `tc` comes from the server: {rate: frames per timecode second, drop: bool, start_frames: the
// video's start timecode as a frame count}, or, at a rate with no whole number of frames per
// second (12.5, under 1 fps), {seconds: true, fps, start_sec, decimals}: the frame's time HH:MM:SS.mmm.
"use strict";
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }

  function seconds(frame, tc) {
    const scale = 10 ** tc.decimals, day = 86400 * scale;
    const units = ((Math.round((tc.start_sec + Math.max(0, Math.floor(frame)) / tc.fps) * scale) % day) + day) % day;
    const whole = Math.floor(units / scale), part = String(units % scale).padStart(tc.decimals, "0");
    return `${pad(Math.floor(whole / 3600))}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}.${part}`;
  }

  function format(frame, tc) {
    if (tc.seconds) return seconds(frame, tc);
    const R = tc.rate;
    let f = Math.max(0, Math.floor(frame)) + (tc.start_frames || 0);
    if (tc.drop) {
      const D = R === 60 ? 4 : 2;            // frame numbers dropped per minute
      const per10 = R * 600 - D * 9;          // real frames in ten minutes
      const perMin = R * 60 - D;              // real frames in a dropping minute
      const tens = Math.floor(f / per10);
      const rem = f % per10;
      f += D * 9 * tens + (rem > D ? D * Math.floor((rem - D) / perMin) : 0);
    }
    const ff = f % R, s = Math.floor(f / R), ss = s % 60, m = Math.floor(s / 60), mm = m % 60;
    const hh = Math.floor(m / 60) % 24;
    return `${pad(hh)}:${pad(mm)}:${pad(ss)}${tc.drop ? ";" : ":"}${pad(ff)}`;
  }

  window.TempscoreTimecode = { format };
})();
