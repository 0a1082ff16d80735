// SMPTE timecode for the page's playhead, as tempscore writes it (scoring/timecodes.py):
// drop-frame at 29.97/59.94 (";" before the frames), otherwise the rounded rate (23.976 counts 24).
// `tc` comes from the server: {rate: frames per timecode second, drop: bool, start_frames: the
// video's start timecode as a frame count}.
"use strict";
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }

  function format(frame, tc) {
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
