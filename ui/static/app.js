// tempscore spotting page. Plain JavaScript, no build step. Talks to the local server's JSON API
// (tempscore/ui/app.py); every edit is written by the server into <stem>.timeline.json.
"use strict";
(function () {
  const $ = (sel) => document.querySelector(sel);
  const SVGNS = "http://www.w3.org/2000/svg";
  const TC = window.TempscoreTimecode;

  const S = {
    config: null,
    jobs: [],
    uploads: [],          // {id, file, loaded, xhr}
    uploading: false,
    jobId: null,
    view: null,
    revision: -1,
    failedShown: {},      // job id -> revision whose failure was announced
    selection: null,      // {type: "cue", id} | {type: "hit", frame}
    staged: {},           // cue edits not yet applied
    zoom: { pps: null, t0: 0 },
    drag: null,
    pollTimer: null,
    preview: null,        // the running job's first cue, heard while the rest renders: {cue, start_sec, end_sec, url}
    previewSeen: "",      // the preview whose shots and cues were asked for (job id and when it was made)
    previewTimes: {},     // Date.now() when it was seen, could play, and first played (for the measurement)
    ticking: false,       // the playhead's frame loop runs (only while the picture plays)
    jobsShown: "",        // what the job list shows (rebuilt only when that changes)
  };

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    if (parent) parent.append(e);
    return e;
  }
  function titled(node, text) { svg("title", { text }, node); return node; }
  function bytes(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(2) + " GB";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + " MB";
    return Math.max(1, Math.round(n / 1e3)) + " kB";
  }
  function suffix(name) { const i = name.lastIndexOf("."); return i < 0 ? "" : name.slice(i).toLowerCase(); }

  async function api(method, url, body) {
    const opt = { method, headers: {} };
    if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    let r;
    try { r = await fetch(url, opt); } catch (e) { throw new Error("the tempscore server is not reachable; is `tempscore ui` still running?"); }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
    return data;
  }

  function showMessage(text, kind) {
    const box = $("#message");
    $("#message-text").textContent = text;
    box.classList.toggle("info", kind === "info");
    box.hidden = false;
  }
  function hideMessage() { $("#message").hidden = true; }

  const job = () => S.jobs.find((j) => j.id === S.jobId) || (S.view && S.view.job) || null;
  const busy = () => { const j = job(); return !j || j.state === "queued" || j.state === "running"; };
  const timeline = () => (S.view && S.view.timeline) || null;
  const fps = () => { const v = timeline().video; return v.fps_num / v.fps_den; };
  const frameAt = (t) => Math.max(0, Math.floor(t * fps() + 1e-6));
  const tcOf = (frame) => TC.format(frame, S.view.timecode);
  const fileUrl = (name) => `/api/jobs/${S.jobId}/files/${encodeURIComponent(name)}`;

  // ---------------------------------------------------------------- uploads
  const MARKER_SUFFIXES = [".edl", ".xml", ".fcpxml", ".otio", ".csv", ".txt"];

  async function importMarkers(f) {
    if (!S.jobId) { showMessage(`${f.name}: select a scored job first, then drop its markers`); return; }
    let r, data = null;
    try {
      r = await fetch(`/api/jobs/${S.jobId}/markers`, { method: "POST", headers: { "X-Filename": f.name }, body: f });
    } catch (e) { showMessage("the tempscore server is not reachable; is `tempscore ui` still running?"); return; }
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) { showMessage((data && data.error) || `${r.status} ${r.statusText}`); return; }
    showMessage(`${f.name}: ${data.markers} markers (${data.must} must-hits) are hits now; planning again`, "info");
    await refreshJobs();
  }

  function addFiles(files) {
    const accept = S.config ? S.config.accept : [".mp4", ".mov", ".m4v", ".mkv"];
    const markers = files.filter((f) => MARKER_SUFFIXES.includes(suffix(f.name)));
    for (const f of markers) importMarkers(f);
    files = files.filter((f) => !MARKER_SUFFIXES.includes(suffix(f.name)));
    for (const f of files) {
      if (!accept.includes(suffix(f.name))) {
        showMessage(`${f.name}: not a video file tempscore reads; give the rough cut as ${accept.map((s) => s.slice(1)).join(", ")}`);
        continue;
      }
      if (f.size === 0) { showMessage(`${f.name}: the file is empty; choose the exported rough cut`); continue; }
      if (S.config && f.size > S.config.max_upload_bytes) {
        showMessage(`${f.name}: ${bytes(f.size)} is over the upload limit of ${bytes(S.config.max_upload_bytes)}; ` +
                    "start the server with a larger --max-upload-mb");
        continue;
      }
      S.uploads.push({ id: Math.random().toString(36).slice(2), file: f, loaded: 0, xhr: null });
    }
    renderJobs();
    nextUpload();
  }

  function nextUpload() {
    if (S.uploading || !S.uploads.length) return;
    const u = S.uploads[0];
    S.uploading = true;
    const xhr = new XMLHttpRequest();
    u.xhr = xhr;
    xhr.open("POST", "/api/jobs");
    xhr.setRequestHeader("X-Filename", encodeURIComponent(u.file.name));
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => { u.loaded = e.loaded; renderJobs(); };
    const done = () => { S.uploads.shift(); S.uploading = false; renderJobs(); nextUpload(); refreshJobs(); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status === 201 && data) {
        S.jobs.push(data);
        if (!S.jobId || (job() && job().state === "failed" && !job().has_timeline)) selectJob(data.id);
      } else {
        showMessage((data && data.error) || `${u.file.name}: upload refused (${xhr.status})`);
      }
      done();
    };
    xhr.onerror = () => { showMessage(`${u.file.name}: the upload failed; is \`tempscore ui\` still running?`); done(); };
    xhr.send(u.file);
  }

  // ---------------------------------------------------------------- jobs
  async function refreshJobs() {
    try {
      const d = await api("GET", "/api/jobs");
      S.jobs = d.jobs;
    } catch (e) {
      $("#job-status .stage").textContent = e.message;
      return;
    }
    if (S.jobId && !S.jobs.some((j) => j.id === S.jobId)) { S.jobId = null; S.view = null; }
    if (!S.jobId && S.jobs.length) selectJob(S.jobs[S.jobs.length - 1].id, true);
    renderJobs();
    syncCurrent();
  }

  function schedulePoll() {
    clearTimeout(S.pollTimer);
    const active = S.uploads.length || S.jobs.some((j) => j.state === "queued" || j.state === "running");
    S.pollTimer = setTimeout(async () => { await refreshJobs(); schedulePoll(); }, active ? 250 : 3000);
  }

  function selectJob(id, keepHash) {
    if (S.jobId !== id) {
      S.jobId = id;
      S.view = null;
      S.revision = -1;
      S.selection = null;
      S.staged = {};
      S.zoom = { pps: null, t0: 0 };
      S.previewSeen = "";
      syncPreview(null);  // another job's first cue stops
      const player = $("#player");
      player.removeAttribute("src");
      player.dataset.src = "";
      player.load();
    }
    if (!keepHash || !location.hash) history.replaceState(null, "", `#job=${id}`);
    renderJobs();
    syncCurrent();
  }

  function jobStateText(j) {
    if (j.state === "queued") return j.queue_position > 1 ? `queued #${j.queue_position}` : "queued";
    if (j.state === "running") return `${j.stage} ${Math.round(100 * j.progress)}%`;
    if (j.state === "failed") return "failed";
    return "done";
  }

  function renderJobs() {
    // rebuilt only when what it shows changed: the list is polled 4 times a second while a job runs
    const shown = JSON.stringify([S.jobId, S.jobs.map((j) => [j.id, j.name, jobStateText(j), Math.round(100 * j.progress)]),
                                  S.uploads.map((u) => [u.file.name, u.loaded, !!u.xhr])]);
    if (shown === S.jobsShown) return;
    S.jobsShown = shown;
    const nav = $("#jobs");
    nav.replaceChildren();
    for (const j of S.jobs) {
      const chip = el("div", { class: `job-chip ${j.state}${j.id === S.jobId ? " active" : ""}`, "data-job": j.id,
                               title: `${j.name}: ${jobStateText(j)}`, onclick: () => selectJob(j.id) },
        el("span", { class: "label", text: j.name }), el("span", { class: "state", text: jobStateText(j) }));
      if (j.state === "running" || j.state === "queued") {
        const mini = el("div", { class: "mini" }, el("div"));
        mini.firstChild.style.width = `${Math.round(100 * j.progress)}%`;
        chip.append(mini);
      }
      if (j.state !== "running") {
        chip.append(el("button", { class: "icon", type: "button", title: "Delete this job and its files", text: "×",
                                   onclick: (e) => { e.stopPropagation(); deleteJob(j); } }));
      }
      nav.append(chip);
    }
    for (const u of S.uploads) {
      const pct = u.file.size ? Math.round((100 * u.loaded) / u.file.size) : 0;
      const mini = el("div", { class: "mini" }, el("div"));
      mini.firstChild.style.width = `${pct}%`;
      nav.append(el("div", { class: "job-chip uploading" }, el("span", { class: "label", text: u.file.name }),
                    el("span", { class: "state", text: u.xhr ? `uploading ${pct}%` : "waiting to upload" }), mini));
    }
    const any = S.jobs.length > 0;
    $("#empty").hidden = any;
    $("#workspace").hidden = !any;
  }

  async function deleteJob(j) {
    if (!window.confirm(`Delete ${j.name} and everything scored from it?`)) return;
    try { await api("DELETE", `/api/jobs/${j.id}`); } catch (e) { showMessage(e.message); }
    if (S.jobId === j.id) { S.jobId = null; S.view = null; history.replaceState(null, "", "#"); }
    refreshJobs();
  }

  function syncCurrent() {
    const j = job();
    renderStatus(j);
    if (!j) return;
    if (j.state === "failed" && S.failedShown[j.id] !== j.revision) {
      S.failedShown[j.id] = j.revision;
      showMessage(`${j.name}: ${j.error}`);
    }
    syncPreview(j);
    const pk = previewKey(j);
    if (j.revision !== S.revision && S.loading !== `${j.id}:${j.revision}`) loadView();
    else if (pk !== S.previewSeen && !S.loading) { S.previewSeen = pk; loadView(); }  // this run's shots and cues
    else if (busy() !== S.renderedBusy) renderSelection();  // enable/disable the buttons with the job's state
  }

  // the first cue of a new upload, ready while the rest renders (job.preview, set by the server)
  function previewKey(j) { return j && j.state === "running" && j.preview ? `${j.id}:${j.preview.made}` : ""; }

  function syncPreview(j) {
    // offered the moment the job list says it is ready (its shots and cues follow with the view)
    const key = previewKey(j);
    const audio = $("#preview-audio");
    const button = $("#preview-play");
    if (!key) {
      if (S.preview) { audio.pause(); audio.removeAttribute("src"); audio.load(); }
      S.preview = null;
      button.hidden = true;
      return;
    }
    if (S.preview && S.preview.key === key) return;
    S.preview = { ...j.preview, key, url: `/api/jobs/${j.id}/preview/${encodeURIComponent(j.preview.audio)}?made=${j.preview.made}` };
    S.previewTimes = { seen: Date.now() };
    audio.src = S.preview.url;
    audio.load();
    button.textContent = `\u25B6 Hear ${j.preview.cue} now`;
    button.hidden = false;
  }

  function playPreview() {
    if (!S.preview) return;
    const player = $("#player");
    player.currentTime = S.preview.start_sec;
    player.play().catch((e) => showMessage(`The first cue cannot play here: ${e.message}`, "info"));
  }

  function followPreview() {
    // the preview's music follows the picture: started, stopped and kept in step with it inside the cue
    const p = S.preview;
    const audio = $("#preview-audio");
    if (!p) return;
    const player = $("#player");
    const t = player.currentTime;
    if (player.paused || t < p.start_sec - 0.02 || t >= p.end_sec) { if (!audio.paused) audio.pause(); return; }
    const want = Math.max(0, t - p.start_sec);
    if (Math.abs(audio.currentTime - want) > 0.08) audio.currentTime = want;
    audio.playbackRate = player.playbackRate;
    if (audio.paused) audio.play().catch(() => {});
  }

  function renderStatus(j) {
    const box = $("#job-status");
    if (!j) { box.dataset.state = ""; return; }
    box.dataset.state = j.state;
    box.dataset.revision = String(S.revision);
    box.dataset.stage = j.stage;
    box.querySelector(".name").textContent = j.name;
    let text = "";
    if (j.state === "running") text = `${j.stage}… ${Math.round(100 * j.progress)}%` + (S.preview ? ` · ${S.preview.cue} ready to hear` : "");
    else if (j.state === "queued") text = j.queue_position > 1 ? `waiting: ${j.queue_position - 1} job(s) before it` : "starting…";
    else if (j.state === "done") {
      const tl = timeline();
      const secs = j.timings_sec && j.timings_sec.total;
      text = tl ? `${tl.cues.length} cues · ${tl.hit_points.length} hit points` + (secs ? ` · last run ${secs.toFixed(1)} s` : "") : "";
    }
    box.querySelector(".stage").textContent = text;
    box.querySelector(".fill").style.width = `${Math.round(100 * (j.progress || 0))}%`;
    box.querySelector(".error").textContent = j.state === "failed" ? j.error : "";
  }

  async function loadView() {
    const id = S.jobId;
    const j = job();
    const key = `${id}:${j ? j.revision : ""}`;
    S.loading = key;
    let v;
    // the view and (once per revision) the NLE strip together: the timeline is drawn once, with both
    const strip = S.stripKey === key ? Promise.resolve(S.strip) : api("GET", `/api/jobs/${id}/strip`).catch(() => null);
    let st;
    try { [v, st] = await Promise.all([api("GET", `/api/jobs/${id}/view`), strip]); } catch (e) { S.loading = null; showMessage(e.message); return; }
    if (S.loading === key) S.loading = null;
    if (id !== S.jobId) return;
    S.view = v;
    S.strip = st;
    S.stripKey = key;
    S.revision = v.job.revision;
    if (S.selection && S.selection.type === "cue" && !(v.timeline && v.timeline.cues.some((c) => c.id === S.selection.id))) S.selection = null;
    if (S.selection && S.selection.type === "hit" && !(v.timeline && v.timeline.hit_points.some((h) => h.frame === S.selection.frame))) S.selection = null;
    S.staged = {};
    updatePlayer();
    if (v.preview && v.timeline && S.preview && !S.previewTimes.drawn) S.previewTimes.drawn = Date.now();
    renderDownloads();
    renderMarkerReport(v.timeline);
    draw();
    renderSelection();
    renderStatus(job());
    if (v.timeline_error) showMessage(v.timeline_error);
    if (v.timeline) reportPendingHit(v.timeline);
  }

  function renderMarkerReport(tl) {
    const p = $("#marker-report");
    const ms = (tl && tl.markers) || [];
    p.hidden = !ms.length;
    if (!ms.length) return;
    const n = (st) => ms.filter((m) => m.status === st).length;
    const given = tl.cues.reduce((k, c) => k + ((c.why && c.why.given_up_for_markers) || []).length, 0);
    p.textContent = `Markers (${ms[0].file || "imported"}): ${n("hit")} hit, ${n("near")} near, ${n("miss")} missed` +
      (given ? `; ${given} cut${given > 1 ? "s" : ""} given up for the must-hits` : "");
  }

  function updatePlayer() {
    const player = $("#player");
    const files = S.view.files;
    const scored = files.find((f) => f.kind === "video");
    const source = files.find((f) => f.kind === "source");
    const pickFile = scored || source;
    const src = pickFile ? `${fileUrl(pickFile.name)}?rev=${S.view.job.revision}` : "";
    if (player.dataset.src === src) return;
    const t = player.currentTime || 0;
    const wasPlaying = !player.paused;
    player.dataset.src = src;
    player.dataset.kind = scored ? "scored" : "source";
    if (!src) { player.removeAttribute("src"); player.load(); return; }
    player.src = src;
    player.addEventListener("loadedmetadata", () => {
      if (t) player.currentTime = Math.min(t, player.duration || t);
      if (wasPlaying) player.play().catch(() => {});
    }, { once: true });
  }

  function renderDownloads() {
    const ul = $("#downloads");
    ul.replaceChildren();
    const files = S.view.files.filter((f) => f.kind !== "source");
    if (!files.length) { ul.append(el("li", { class: "hint", text: "The outputs appear here when the first run has finished." })); return; }
    const link = (f, text) => el("a", { href: `${fileUrl(f.name)}?download=1`, download: f.name, "data-kind": f.kind,
                                       "data-name": f.name, title: `${f.name} (${bytes(f.bytes)})`, text });
    const stems = files.filter((f) => f.kind === "stem");
    for (const f of files) {
      if (f.kind === "stem") {
        if (f !== stems[0]) continue;  // all stems on one line
        const li = el("li", { class: "stems" }, el("span", { text: "Stems" }));
        const group = el("span", { class: "group" });
        stems.forEach((s, i) => { if (i) group.append(" · "); group.append(link(s, s.label.replace(/^Stem: /, ""))); });
        li.append(group);
        ul.append(li);
        continue;
      }
      ul.append(el("li", {}, link(f, f.label), el("span", { class: "size", text: bytes(f.bytes) })));
    }
  }

  // ---------------------------------------------------------------- the inspector
  function renderSelection() {
    // rebuilt only when the view, the selection or the job's busy state changes, so a slider being
    // dragged or a variant being auditioned is not interrupted by polling
    S.renderedBusy = busy();
    const box = $("#selection");
    const tl = timeline();
    box.replaceChildren();
    if (!tl) {
      box.append(el("p", { class: "hint", text: job() && job().state === "failed" ? "This video could not be scored; see the message above." :
        "The timeline appears when the first run has finished." }));
      return;
    }
    if (S.selection && S.selection.type === "cue") return renderCue(box, tl, tl.cues.find((c) => c.id === S.selection.id));
    if (S.selection && S.selection.type === "hit") return renderHit(box, tl, tl.hit_points.find((h) => h.frame === S.selection.frame));
    box.append(el("h2", { text: "Cues" }));
    const list = el("ul", { class: "downloads" });
    for (const c of tl.cues) {
      list.append(el("li", {},
        el("a", { href: "#", "data-cue-link": c.id, text: `${c.id} · ${c.tacet ? "tacet" : c.mood}`,
                  onclick: (e) => { e.preventDefault(); select({ type: "cue", id: c.id }); } }),
        el("span", { class: "size", text: `${tcOf(c.start_frame)} · ${(c.end_sec - c.start_sec).toFixed(1)} s` })));
    }
    box.append(list, el("p", { class: "hint", text: "Click a cue or a hit point on the timeline to change it." }));
  }

  function disabledWhenBusy(button) {
    if (busy()) { button.disabled = true; button.title = "The score is being updated; wait for it to finish."; }
    return button;
  }

  function renderCue(box, tl, cue) {
    if (!cue) { S.selection = null; return renderSelection(); }
    const st = S.staged;
    const val = (k) => (k in st ? st[k] : cue[k]);
    const auto = cue.auto || {};
    box.append(el("h2", { text: `Cue ${cue.id}` + (cue.title ? ` "${cue.title}"` : "") }));
    box.append(el("div", { class: "meta", text:
      `${tcOf(cue.start_frame)} → ${tcOf(cue.end_frame)} · ${(cue.end_sec - cue.start_sec).toFixed(2)} s · ` +
      `bar ${cue.start_bar} · ${cue.tempo_bpm.toFixed(2)} BPM · ${cue.beats_per_bar}/4` +
      (cue.seed >= 0 ? ` · seed ${cue.seed}` : "") }));

    const title = el("input", { id: "cue-title", type: "text", maxlength: "80", placeholder: "e.g. The Chase",
                                value: val("title") || "", onchange: (e) => stage("title", e.target.value.trim(), cue) });
    box.append(el("label", { class: "field", title: "The cue's name in the reports, the EDL/OTIO markers and the MIDI" },
                  el("span", { text: "Title" }), title));

    const moods = el("div", { class: "moods", role: "group", "aria-label": "Mood" });
    for (const m of S.config.moods) {
      moods.append(el("button", { type: "button", "data-mood": m, class: val("mood") === m ? "chosen" : "",
                                  onclick: () => stage("mood", m, cue) },
        m, auto.mood === m ? el("span", { class: "auto", text: "auto" }) : null));
    }
    box.append(el("div", { class: "field stack" }, el("span", { text: "Mood" }), moods));

    const key = el("select", { id: "cue-key", onchange: (e) => stage("key", e.target.value, cue) });
    const keys = S.config.keys.includes(val("key")) ? S.config.keys : [val("key"), ...S.config.keys];
    for (const k of keys) key.append(el("option", { value: k, text: k + (auto.key === k ? " (auto)" : "") }));
    key.value = val("key");
    box.append(el("label", { class: "field" }, el("span", { text: "Key" }), key));

    // base tempo (kept on re-plans; the planner's own hands the choice back) and metre
    const tempo = el("input", { id: "cue-tempo", type: "number", min: "20", max: "300", step: "0.01",
                                value: Number(val("tempo_bpm")).toFixed(2),
                                onchange: (e) => { const v = Number(e.target.value);
                                                   if (v >= 20 && v <= 300) stage("tempo_bpm", Math.round(v * 1000) / 1000, cue); } });
    const tempoAuto = el("button", { type: "button", id: "cue-tempo-auto", class: "small",
                                     text: auto.tempo_bpm !== undefined ? `auto ${Number(auto.tempo_bpm).toFixed(2)}` : "auto",
                                     title: "The planner's tempo (it lands the most cuts on the beat)",
                                     onclick: () => stage("tempo_bpm", auto.tempo_bpm, cue) });
    tempoAuto.disabled = auto.tempo_bpm === undefined || (!cue.tempo_locked && !("tempo_bpm" in st));
    box.append(el("label", { class: "field", title: "Base tempo in BPM; hits may still bend it by gentle ramps" },
                  el("span", { text: "Tempo" }), tempo, tempoAuto));
    const metre = el("select", { id: "cue-metre", onchange: (e) => stage("beats_per_bar", Number(e.target.value), cue) });
    for (let n = 2; n <= 12; n++) {
      metre.append(el("option", { value: String(n), text: `${n}/4` + (auto.beats_per_bar === n ? " (auto)" : "") }));
    }
    metre.value = String(val("beats_per_bar"));
    box.append(el("label", { class: "field" }, el("span", { text: "Metre" }), metre));

    // the theme it opens with (an earlier cue's, or none) and its lead instrument
    const earlier = tl.cues.slice(0, tl.cues.findIndex((c) => c.id === cue.id)).map((c) => c.id);
    const theme = el("select", { id: "cue-recalls", onchange: (e) => stage("recalls", e.target.value, cue) });
    theme.append(el("option", { value: "", text: "its own" + ((auto.recalls || "") === "" ? " (auto)" : "") }));
    for (const id of earlier) {
      theme.append(el("option", { value: id, text: `${id}'s` + (auto.recalls === id ? " (auto)" : "") }));
    }
    theme.value = val("recalls") || "";
    box.append(el("label", { class: "field", title: "The theme the cue opens with: its own, or an earlier cue's (a recurring place or character)" },
                  el("span", { text: "Theme" }), theme));
    const orch = String(val("orchestration") || "");
    const words = orch.toLowerCase().split(/[\s,&+/]+/).filter(Boolean);
    const insts = S.config.instruments || [];
    const leadNow = words.find((w) => insts.includes(w)) || "";
    const custom = orch && (!leadNow || words.some((w) => w !== "solo" && w !== leadNow));
    const lead = el("select", { id: "cue-lead", onchange: () => stageLead() });
    lead.append(el("option", { value: "", text: "as the intensity asks" }));
    if (custom) lead.append(el("option", { value: "=" + orch, text: orch }));
    for (const w of insts) lead.append(el("option", { value: w, text: w }));
    lead.value = custom ? "=" + orch : leadNow;
    const solo = el("input", { id: "cue-solo", type: "checkbox", onchange: () => stageLead() });
    solo.checked = words.includes("solo");
    solo.disabled = !lead.value || custom;
    function stageLead() {
      const v = lead.value;
      stage("orchestration", v.startsWith("=") ? v.slice(1) : v ? (solo.checked ? "solo " : "") + v : "", cue);
    }
    box.append(el("label", { class: "field", title: "The instrument that carries the melody; solo: it plays alone" },
                  el("span", { text: "Lead" }), lead, solo, el("span", { class: "fine", text: "solo" })));

    const out = el("output", { text: Number(val("intensity")).toFixed(2) });
    const inten = el("input", { id: "cue-intensity", type: "range", min: "0", max: "1", step: "0.01", value: String(val("intensity")),
                                oninput: (e) => { out.textContent = Number(e.target.value).toFixed(2); },
                                onchange: (e) => stage("intensity", Number(e.target.value), cue) });
    box.append(el("label", { class: "field", title: auto.intensity !== undefined ? `auto ${auto.intensity}` : "" },
                  el("span", { text: "Intensity" }), inten, out));

    const lock = el("input", { id: "cue-locked", type: "checkbox", onchange: (e) => stage("locked", e.target.checked, cue) });
    lock.checked = val("locked");
    box.append(el("label", { class: "field" }, el("span", { text: "Locked" }), lock,
                  el("span", { class: "fine", text: "kept as it is when re-planned" })));
    const pin = el("input", { id: "cue-edges-locked", type: "checkbox", onchange: (e) => stage("edges_locked", e.target.checked, cue) });
    pin.checked = val("edges_locked");
    box.append(el("label", { class: "field" }, el("span", { text: "Edges" }), pin,
                  el("span", { class: "fine", text: "kept where you dragged them" })));
    const tacet = el("input", { id: "cue-tacet", type: "checkbox", onchange: (e) => stage("tacet", e.target.checked, cue) });
    tacet.checked = val("tacet");
    box.append(el("label", { class: "field" }, el("span", { text: "Tacet" }), tacet,
                  el("span", { class: "fine", text: "no music in this cue" })));

    if (cue.locked && val("locked")) {  // locked: its music is kept; unlock to change it (the server says the same)
      for (const c of [...moods.querySelectorAll("button"), key, inten, tacet, tempo, tempoAuto, metre, theme, lead, solo]) {
        c.disabled = true;
        c.title = "Locked: untick Locked to change it";
      }
    }
    const dirty = Object.keys(st).length > 0;
    const apply = disabledWhenBusy(el("button", { id: "cue-apply", type: "button", class: "primary", text: "Apply changes",
                                                   onclick: () => applyCue(cue) }));
    if (!dirty) apply.disabled = true;
    const revert = el("button", { type: "button", text: "Revert", onclick: () => { S.staged = {}; renderSelection(); } });
    revert.disabled = !dirty;
    box.append(el("div", { class: "actions" }, apply, revert));

    const regen = disabledWhenBusy(el("button", { id: "cue-regenerate", type: "button", text: "Regenerate",
      title: "New notes for this cue only (a new seed)", onclick: () => act("POST", `cues/${cue.id}/regenerate`) }));
    const variants = disabledWhenBusy(el("button", { id: "cue-variants", type: "button", text: "Audition 3 variants",
      title: "Three alternatives for this cue, each with a WAV to listen to", onclick: () => act("POST", `cues/${cue.id}/variants`, { n: 3 }) }));
    const seek = el("button", { type: "button", text: "Play cue", onclick: () => { seek(cue.start_sec); $("#player").play().catch(() => {}); } });
    if (cue.tacet || cue.locked) { regen.disabled = true; variants.disabled = true; }
    if (cue.locked) regen.title = "The cue is locked: its notes are kept. Unlock it to give it new notes.";
    box.append(el("div", { class: "actions" }, seek, regen, variants));

    const vs = S.view.variants[cue.id];
    if (vs && vs.items.length) {
      const ul = el("ul", { class: "variants", id: "variant-list" });
      for (const it of vs.items) {
        const use = disabledWhenBusy(el("button", { type: "button", text: "Use", "data-variant": String(it.variant),
          onclick: () => act("POST", `cues/${cue.id}/pick`, { variant: it.variant }) }));
        if (!vs.current) { use.disabled = true; use.title = "Made before your last change to this cue; audition new ones"; }
        ul.append(el("li", {}, el("span", { text: `${it.variant}` }),
          el("audio", { controls: true, preload: "none", src: `/api/jobs/${S.jobId}/variants/${encodeURIComponent(it.wav)}?rev=${S.revision}` }),
          vs.picked === it.variant ? el("span", { class: "picked", text: "in use" }) : use));
      }
      box.append(el("h2", { text: "Variants" }), ul);
      if (!vs.current) box.append(el("p", { class: "fine", text: "These were made before your last change to this cue." }));
    }

    const why = cue.why || {};
    const details = el("details", {}, el("summary", { text: "Why this cue" }));
    const items = [why.leader, why.two_pop && why.two_pop.note, why.tail, why.tail_pop && why.tail_pop.note,
                   why.tempo, why.related_to_previous, why.key_rule, why.tacet_rule,
                   why.edited && why.edited.length ? `your edits: ${why.edited.join(", ")}` : null,
                   `hits kept: ${(why.hits_kept || []).length}, missed: ${(why.hits_dropped || []).length}`];
    const ul = el("ul");
    for (const t of items) if (t) ul.append(el("li", { text: t }));
    for (const d of why.hits_dropped || []) ul.append(el("li", { text: `missed frame ${d.frame} (${d.offset_frames} frames off): ${d.reason}` }));
    details.append(ul);
    box.append(details);
  }

  function stage(field, value, cue) {
    if (value === cue[field]) delete S.staged[field]; else S.staged[field] = value;
    renderSelection();
  }

  async function applyCue(cue) {
    const body = { ...S.staged };
    if (!Object.keys(body).length) return;
    await act("PATCH", `cues/${cue.id}`, body);
  }

  function renderHit(box, tl, hit) {
    if (!hit) { S.selection = null; return renderSelection(); }
    const kind = hit.how === "user" ? "your hit" : hit.how === "cue_start" ? "cue start (downbeat)" : hit.kind;
    box.append(el("h2", { text: `Hit point · frame ${hit.frame}` }));
    box.append(el("div", { class: "meta", text:
      `${hit.timecode || tcOf(hit.frame)} · cue ${hit.cue_id} · bar ${hit.bar} | beat ${hit.beat} · ` +
      `${hit.offset_frames >= 0 ? "+" : ""}${hit.offset_frames} frames off the grid · ${kind}` }));
    const rm = disabledWhenBusy(el("button", { id: "hit-remove", type: "button", class: "danger", text: "Remove hit point",
                                               onclick: () => act("DELETE", `hits/${hit.frame}`) }));
    box.append(el("div", { class: "actions" },
      el("button", { type: "button", text: "Go to", onclick: () => seek((hit.frame + 0.1) / fps()) }), rm));
  }

  async function act(method, path, body) {
    try {
      await api(method, `/api/jobs/${S.jobId}/${path}`, body === undefined && method !== "DELETE" ? {} : body);
      hideMessage();
    } catch (e) {
      showMessage(e.message);
    }
    await refreshJobs();
    schedulePoll();
  }

  function select(sel) {
    S.selection = sel;
    S.staged = {};
    renderSelection();
    draw();
  }

  // ---------------------------------------------------------------- timeline
  const LANE = { ruler: [0, 20], picture: [22, 62], shots: [64, 90], curves: [94, 174], cues: [178, 232], hits: [236, 264],
                 sound: [268, 318] };
  const HEIGHT = 322, GUTTER = 60;

  function geometry() {
    const svgEl = $("#tl");
    const w = svgEl.clientWidth || 800;
    const dur = timeline().video.duration_sec;
    const fit = (w - GUTTER - 6) / dur;
    const pps = Math.max(fit, S.zoom.pps || fit);
    const visible = (w - GUTTER - 6) / pps;
    S.zoom.t0 = Math.min(Math.max(0, S.zoom.t0), Math.max(0, dur - visible));
    const t0 = S.zoom.t0;
    return { w, dur, pps, t0, t1: t0 + visible, x: (t) => GUTTER + (t - t0) * pps, t: (x) => t0 + (x - GUTTER) / pps };
  }

  function draw() {
    const root = $("#tl");
    root.replaceChildren();
    const tl = timeline();
    root.setAttribute("height", HEIGHT);
    if (!tl) {
      svg("text", { x: 12, y: 110, class: "lane-label", text: job() && job().state === "failed" ? "No timeline: the run failed." : "The timeline appears when the first run has finished." }, root);
      return;
    }
    const g = geometry();
    const defs = svg("defs", {}, root);
    const pat = svg("pattern", { id: "tacet", width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
    svg("rect", { width: 8, height: 8, fill: "#2a2e35" }, pat);
    svg("line", { x1: 0, y1: 0, x2: 0, y2: 8, stroke: "#4a505b", "stroke-width": 3 }, pat);
    const clip = svg("clipPath", { id: "view" }, defs);
    svg("rect", { x: GUTTER, y: 0, width: g.w - GUTTER, height: HEIGHT }, clip);

    for (const [name, [y0, y1]] of Object.entries(LANE)) {
      svg("rect", { class: "lane-bg", x: GUTTER, y: y0, width: g.w - GUTTER, height: y1 - y0, "data-lane": name }, root);
      if (name !== "ruler") svg("text", { class: "lane-label", x: 6, y: (y0 + y1) / 2 + 4,
        text: { picture: "Picture", shots: "Shots", curves: "Affect", cues: "Cues", hits: "Hits", sound: "Sound" }[name] }, root);
    }
    const view = svg("g", { "clip-path": "url(#view)" }, root);
    drawRuler(view, g);
    drawPicture(view, g);
    drawSound(view, g);
    drawShots(view, g, tl);
    drawGrid(view, g);
    drawCurves(view, g, tl);
    drawCues(view, g, tl);
    drawHits(view, g, tl);
    svg("line", { id: "playhead", class: "playhead", x1: -10, x2: -10, y1: 0, y2: HEIGHT }, root);
    updatePlayhead(true);
  }

  function drawRuler(root, g) {
    const steps = [0.04, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200];
    const step = steps.find((s) => s * g.pps >= 90) || 1800;
    for (let t = Math.ceil(g.t0 / step) * step; t <= g.t1; t += step) {
      const x = g.x(t);
      svg("line", { class: "tick", x1: x, x2: x, y1: 12, y2: 20 }, root);
      svg("text", { class: "ruler-text", x: x + 3, y: 10, text: tcOf(frameAt(t + 1e-9)) }, root);
    }
  }

  function drawPicture(root, g) {
    // a thumbnail per shot, as an NLE's filmstrip (each at its shot's start, cut at its end)
    const [y0, y1] = LANE.picture;
    for (const th of (S.strip && S.strip.thumbs) || []) {
      if (th.end_sec < g.t0 || th.start_sec > g.t1) continue;
      const w = Math.max(1, (th.end_sec - th.start_sec) * g.pps);
      const cp = svg("clipPath", { id: `th${Math.round(th.start_sec * 1000)}` }, root);
      svg("rect", { x: g.x(th.start_sec), y: y0, width: w, height: y1 - y0 }, cp);
      svg("image", { class: "thumb", href: th.src, x: g.x(th.start_sec), y: y0, height: y1 - y0,
                     "clip-path": `url(#${cp.id})`, preserveAspectRatio: "xMinYMid meet" }, root);
    }
  }

  function drawSound(root, g) {
    // the production audio (top) and the score (bottom), peak per bin as in an NLE's audio tracks
    const [y0, y1] = LANE.sound, mid = (y0 + y1) / 2;
    const waves = (S.strip && S.strip.waves) || {};
    const dur = timeline().video.duration_sec;
    [["production", y0, mid - 1], ["score", mid + 1, y1]].forEach(([name, a, b]) => {
      const peaks = waves[name] || [];
      if (!peaks.length) return;
      const c = (a + b) / 2, half = (b - a) / 2;
      let d = "";
      peaks.forEach((p, i) => {
        const t = (i + 0.5) * dur / peaks.length;
        if (t < g.t0 || t > g.t1) return;
        const x = g.x(t).toFixed(1);
        d += `M${x} ${(c - p * half).toFixed(1)}V${(c + p * half).toFixed(1)}`;
      });
      titled(svg("path", { class: `wave ${name}`, d }, root), name === "score" ? "score" : "production audio");
    });
  }

  function drawShots(root, g, tl) {
    const a = S.view.analysis;
    const [y0, y1] = LANE.shots;
    if (!a) return;
    a.shots.forEach((s, i) => {
      if (s.end_sec < g.t0 || s.start_sec > g.t1) return;
      const r = svg("rect", { class: `shot${i % 2 ? " odd" : ""}`, x: g.x(s.start_sec), y: y0, width: Math.max(1, (s.end_sec - s.start_sec) * g.pps), height: y1 - y0 }, root);
      titled(r, `shot ${i + 1}: ${tcOf(s.start_frame)}, ${(s.end_sec - s.start_sec).toFixed(2)} s` + (s.emotion_label ? `, ${s.emotion_label}` : ""));
    });
    for (const sp of a.speech || []) {
      if (sp.end_sec < g.t0 || sp.start_sec > g.t1) continue;
      titled(svg("rect", { class: "speech", x: g.x(sp.start_sec), y: y1 - 5, width: Math.max(1, (sp.end_sec - sp.start_sec) * g.pps), height: 5 }, root), "dialogue");
    }
    for (const ac of a.accents || []) {  // flashes, impacts, motion and sound onsets: places a hit may belong
      if (ac.time_sec < g.t0 || ac.time_sec > g.t1) continue;
      const x = g.x(ac.time_sec);
      titled(svg("line", { class: `accent ${ac.kind}`, x1: x, x2: x, y1: y0, y2: y0 + 6 }, root),
             `${ac.kind} accent at frame ${ac.frame} (${tcOf(ac.frame)}), strength ${Number(ac.strength).toFixed(2)}`);
    }
    for (const c of a.cuts) {
      if (c.time_sec < g.t0 || c.time_sec > g.t1) continue;
      const x = g.x(c.time_sec);
      titled(svg("line", { class: `cut ${c.kind}`, "data-frame": c.frame, x1: x, x2: x, y1: y0, y2: y1 }, root),
             `${c.kind} cut at frame ${c.frame} (${tcOf(c.frame)})`);
    }
  }

  function drawGrid(root, g) {
    const grid = S.view.grid;
    if (!grid) return;
    const [y0] = LANE.curves, y1 = LANE.cues[1];
    const spacing = grid.beats.length > 1 ? (grid.beats[1] - grid.beats[0]) * g.pps : 0;
    if (spacing > 7) {
      for (const t of grid.beats) if (t >= g.t0 && t <= g.t1) svg("line", { class: "beat-line", x1: g.x(t), x2: g.x(t), y1: y0, y2: y1 }, root);
    }
    const every = grid.bars.length > 1 ? Math.ceil(40 / Math.max(1, (grid.bars[1][0] - grid.bars[0][0]) * g.pps)) : 1;
    for (const [t, bar] of grid.bars) {
      if (t < g.t0 || t > g.t1) continue;
      const x = g.x(t);
      svg("line", { class: "bar-line", "data-bar": bar, x1: x, x2: x, y1: y0, y2: y1 }, root);
      if ((bar - 1) % every === 0) svg("text", { class: "ruler-text", x: x + 2, y: y0 + 9, text: String(bar) }, root);
    }
  }

  function drawCurves(root, g, tl) {
    const c = tl.curves;
    if (!c || !c.rate_hz) return;
    const [y0, y1] = LANE.curves;
    const mid = (y0 + y1) / 2, h = y1 - y0 - 4;
    svg("line", { class: "zero", x1: GUTTER, x2: g.w, y1: mid, y2: mid }, root);
    const n = c.intensity.length;
    const i0 = Math.max(0, Math.floor(g.t0 * c.rate_hz) - 1), i1 = Math.min(n - 1, Math.ceil(g.t1 * c.rate_hz) + 1);
    const stride = Math.max(1, Math.floor((i1 - i0) / Math.max(1, g.w - GUTTER)));
    const line = (arr, y) => {
      const pts = [];
      for (let i = i0; i <= i1; i += stride) pts.push(`${g.x(i / c.rate_hz).toFixed(1)},${y(arr[i]).toFixed(1)}`);
      return pts.join(" ");
    };
    svg("polyline", { class: "curve valence", points: line(c.valence, (v) => mid - (v * h) / 2) }, root);
    svg("polyline", { class: "curve arousal", points: line(c.arousal, (v) => mid - (v * h) / 2) }, root);
    svg("polyline", { class: "curve intensity", points: line(c.intensity, (v) => y1 - 2 - v * h) }, root);
  }

  function drawCues(root, g, tl) {
    const [y0, y1] = LANE.cues;
    tl.cues.forEach((cue, i) => {
      if (cue.end_sec < g.t0 || cue.start_sec > g.t1) return;
      const x0 = g.x(cue.start_sec), x1 = g.x(cue.end_sec);
      const sel = S.selection && S.selection.type === "cue" && S.selection.id === cue.id;
      const grp = svg("g", { class: `cue ${cue.mood}${cue.tacet ? " tacet" : ""}${cue.locked ? " locked" : ""}` +
                                    `${cue.edges_locked ? " edges-locked" : ""}${sel ? " selected" : ""}`,
                             "data-cue-id": cue.id, "data-mood": cue.mood }, root);
      const body = svg("rect", { class: "body", x: x0 + 0.5, y: y0 + 2, width: Math.max(1, x1 - x0 - 1), height: y1 - y0 - 4, rx: 3 }, grp);
      titled(body, `${cue.id}${cue.title ? ` "${cue.title}"` : ""}: ${cue.tacet ? "tacet" : cue.mood}, ${cue.key}, ${cue.tempo_bpm.toFixed(2)} BPM, intensity ${cue.intensity.toFixed(2)}` +
                   `${cue.locked ? ", locked" : ""}${cue.edges_locked ? ", edges kept" : ""}\n${tcOf(cue.start_frame)} → ${tcOf(cue.end_frame)}`);
      const width = x1 - x0;
      const tx = Math.max(x0, GUTTER) + 6;
      if (width > 40) svg("text", { x: tx, y: y0 + 18, text: `${cue.id}  ${cue.title || (cue.tacet ? "tacet" : cue.mood)}` }, grp);
      if (width > 90) svg("text", { class: "sub", x: tx, y: y0 + 34, text: `${cue.key} · ${cue.tempo_bpm.toFixed(1)} BPM` }, grp);
      if (cue.locked && width > 24) {
        const lx = x1 - 16, ly = y0 + 8;
        svg("path", { class: "lock", d: `M${lx} ${ly + 5}h9v7h-9z M${lx + 2} ${ly + 5}v-2a2.5 2.5 0 0 1 5 0v2h-1.3v-2a1.2 1.2 0 0 0 -2.4 0v2z` }, grp);
      }
      if (cue.edges_locked) {  // brackets: the edges stay where the user put them
        const yb = y1 - 4, h = 8;
        svg("path", { class: "pin", d: `M${x0 + 5} ${yb - h}h-3v${h}h3 M${x1 - 5} ${yb - h}h3v${h}h-3` }, grp);
      }
      if (i > 0) {
        const edge = svg("rect", { class: "edge", x: x0 - 4, y: y0, width: 8, height: y1 - y0,
                                   "data-left": tl.cues[i - 1].id, "data-right": cue.id }, root);
        titled(edge, `drag to move the edge between ${tl.cues[i - 1].id} and ${cue.id}`);
      }
    });
  }

  function drawHits(root, g, tl) {
    const [y0, y1] = LANE.hits;
    const ym = (y0 + y1) / 2;
    for (const cue of tl.cues) {
      for (const d of (cue.why && cue.why.hits_dropped) || []) {
        if (d.time_sec < g.t0 || d.time_sec > g.t1) continue;
        titled(svg("circle", { class: "missed", cx: g.x(d.time_sec), cy: ym, r: 4 }, root),
               `missed: frame ${d.frame}, ${d.offset_frames} frames off the grid (${d.reason})`);
      }
    }
    for (const h of tl.hit_points) {
      if (h.time_sec < g.t0 || h.time_sec > g.t1) continue;
      const x = g.x(h.time_sec);
      const cls = h.how === "user" ? "user" : h.how === "cue_start" ? "cue_start" : h.kind;
      const sel = S.selection && S.selection.type === "hit" && S.selection.frame === h.frame;
      const p = svg("polygon", { class: `hit ${cls}${sel ? " selected" : ""}`, "data-frame": h.frame,
                                 points: `${x},${ym - 7} ${x + 6},${ym} ${x},${ym + 7} ${x - 6},${ym}` }, root);
      titled(p, `hit at frame ${h.frame} (${h.timecode}), bar ${h.bar} | ${h.beat}, ${h.offset_frames} frames off (${h.how || h.kind})`);
    }
  }

  // ---------------------------------------------------------------- playhead, seeking, zoom
  function seek(t) {
    const p = $("#player");
    if (!isFinite(t)) return;
    p.currentTime = Math.max(0, t);
    updatePlayhead(true);
  }

  let lastX = null;
  let lastT = null;
  let lastView = null;
  function updatePlayhead(force) {
    const tl = timeline();
    const line = document.getElementById("playhead");
    const p = $("#player");
    const t = p.currentTime || 0;
    const moved = t !== lastT;
    // called every frame: a still playhead over the same view costs nothing (the labels, the bar search
    // and the layout read cost a fifth of a core on a long film's timeline, beside its render)
    if (!force && !moved && S.view === lastView) return;
    lastT = t;
    lastView = S.view;
    if (tl && S.view.timecode) {
      const f = frameAt(t);
      $("#timecode").textContent = tcOf(f);
      $("#barbeat").textContent = barBeatText(t);
    }
    if (!tl || !line) return;
    const g = geometry();
    if (moved && !S.drag && (t > g.t1 || t < g.t0)) {  // follow a moving playhead a page at a time
      S.zoom.t0 = t > g.t1 ? t : Math.max(0, t - (g.t1 - g.t0) * 0.1);
      draw();
      return;
    }
    const x = g.x(t);
    if (force || x !== lastX) {
      line.setAttribute("x1", x);
      line.setAttribute("x2", x);
      lastX = x;
    }
  }

  function barBeatText(t) {
    const grid = S.view.grid;
    if (!grid || !grid.bars.length) return "";
    let lo = 0;
    for (let i = 0; i < grid.bars.length && grid.bars[i][0] <= t + 1e-6; i++) lo = i;
    const [bt, bar] = grid.bars[lo];
    let beat = 1;
    for (const b of grid.beats) { if (b > bt + 1e-6 && b <= t + 1e-6) beat++; else if (b > t) break; }
    return `bar ${bar} | ${beat}`;
  }

  // the playhead follows the picture frame by frame while it plays; a paused page draws no frames
  function tick() {
    updatePlayhead(false);
    if ($("#player").paused) S.ticking = false; else requestAnimationFrame(tick);
  }
  function startTicking() { if (!S.ticking) { S.ticking = true; requestAnimationFrame(tick); } }

  function zoomBy(factor, atX) {
    if (!timeline()) return;
    const g = geometry();
    const anchor = atX === undefined ? g.x(($("#player").currentTime || 0)) : atX;
    const tAnchor = g.t(anchor);
    const fit = (g.w - GUTTER - 6) / g.dur;
    S.zoom.pps = Math.min(Math.max(fit, g.pps * factor), 400);
    S.zoom.t0 = tAnchor - (anchor - GUTTER) / S.zoom.pps;
    draw();
  }

  function laneAt(y) { return Object.keys(LANE).find((k) => y >= LANE[k][0] && y <= LANE[k][1]) || null; }
  function svgPoint(e) { const r = $("#tl").getBoundingClientRect(); return { x: e.clientX - r.left, y: e.clientY - r.top }; }

  function snapFrame(t, e, g) {
    const a = S.view.analysis;
    if (!e.altKey && a) {
      let best = null;
      for (const c of a.cuts) {
        const dx = Math.abs(g.x(c.time_sec) - g.x(t));
        if (dx <= 6 && (!best || dx < best.dx)) best = { dx, frame: c.frame };
      }
      if (best) return best.frame;
    }
    return Math.round(t * fps());
  }

  function wireTimeline() {
    const root = $("#tl");
    root.addEventListener("pointerdown", (e) => {
      const edge = e.target.closest(".edge");
      if (!edge || !timeline()) return;
      if (busy()) { showMessage("The score is being updated; wait for it to finish before moving a cue edge.", "info"); return; }
      e.preventDefault();
      root.setPointerCapture(e.pointerId);
      edge.classList.add("dragging");
      S.drag = { left: edge.dataset.left, right: edge.dataset.right, frame: null };
    });
    root.addEventListener("pointermove", (e) => {
      if (!S.drag) return;
      const g = geometry();
      const t = g.t(svgPoint(e).x);
      const frame = snapFrame(Math.min(Math.max(t, 0), g.dur), e, g);
      S.drag.frame = frame;
      let ghost = document.getElementById("ghost");
      if (!ghost) {
        ghost = svg("line", { id: "ghost", class: "ghost", y1: LANE.cues[0], y2: LANE.cues[1] }, root);
        svg("text", { id: "ghost-label", class: "ghost-label", y: LANE.cues[0] - 2 }, root);
      }
      const x = g.x(frame / fps());
      ghost.setAttribute("x1", x); ghost.setAttribute("x2", x);
      const label = document.getElementById("ghost-label");
      label.setAttribute("x", x + 4);
      label.textContent = `${tcOf(frame)} (frame ${frame})`;
    });
    const endDrag = async (e) => {
      if (!S.drag) return;
      const d = S.drag;
      S.drag = null;
      const cue = timeline().cues.find((c) => c.id === d.right);
      draw();
      if (d.frame === null || !cue || d.frame === cue.start_frame) return;
      await act("POST", `cues/${d.right}/edge`, { edge: "start", frame: d.frame });
    };
    root.addEventListener("pointerup", endDrag);
    root.addEventListener("pointercancel", () => { S.drag = null; draw(); });

    root.addEventListener("click", (e) => {
      if (!timeline()) return;
      const cue = e.target.closest(".cue");
      const hit = e.target.closest(".hit");
      if (hit) return select({ type: "hit", frame: Number(hit.dataset.frame) });
      if (cue) return select({ type: "cue", id: cue.dataset.cueId });
      const pt = svgPoint(e);
      if (pt.x < GUTTER || e.target.closest(".edge")) return;
      const lane = laneAt(pt.y);
      if (lane === "ruler" || lane === "shots" || lane === "curves") seek(geometry().t(pt.x));
    });
    root.addEventListener("dblclick", async (e) => {
      if (!timeline()) return;
      const pt = svgPoint(e);
      if (pt.x < GUTTER || laneAt(pt.y) !== "hits" || e.target.closest(".hit")) return;
      await addHit(frameAt(geometry().t(pt.x)));
    });
    root.addEventListener("wheel", (e) => {
      if (!timeline()) return;
      if (e.ctrlKey || e.metaKey) {
        e.preventDefault();
        zoomBy(e.deltaY < 0 ? 1.25 : 0.8, svgPoint(e).x);
      } else if (S.zoom.pps && (Math.abs(e.deltaX) > 0 || e.shiftKey)) {
        e.preventDefault();
        const g = geometry();
        S.zoom.t0 += ((e.shiftKey ? e.deltaY : e.deltaX) / g.pps);
        draw();
      }
    }, { passive: false });
  }

  function addHit(frame) {
    S.pendingHit = frame;
    return act("POST", "hits", { frame });
  }

  function addHitAtPlayhead() {
    if (!timeline()) return;
    addHit(frameAt($("#player").currentTime || 0));
  }

  function reportPendingHit(tl) {
    // the planner may not be able to land a hit (e.g. right after a cut): say so and why
    const f = S.pendingHit;
    if (f === undefined || f === null || job().state !== "done") return;
    S.pendingHit = null;
    if (tl.hit_points.some((h) => h.frame === f)) return;
    let why = null;
    for (const c of tl.cues) for (const d of (c.why && c.why.hits_dropped) || []) if (d.frame === f) why = d.reason;
    showMessage(`The hit at ${tcOf(f)} (frame ${f}) could not be put on the beat grid${why ? ": " + why : ""}. ` +
                "Try a frame a little further from the hit or cut before it.", "info");
  }

  function wireKeys() {
    document.addEventListener("keydown", (e) => {
      if (e.target.closest("input, select, textarea") || !timeline()) return;
      const p = $("#player");
      const step = e.shiftKey ? 1 : 1 / fps();
      if (e.key === " ") { e.preventDefault(); if (p.paused) p.play().catch(() => {}); else p.pause(); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); p.pause(); seek(p.currentTime - step); }
      else if (e.key === "ArrowRight") { e.preventDefault(); p.pause(); seek(p.currentTime + step); }
      else if (e.key === "h" || e.key === "H") addHitAtPlayhead();
      else if ((e.key === "Delete" || e.key === "Backspace") && S.selection && S.selection.type === "hit") act("DELETE", `hits/${S.selection.frame}`);
      else if (e.key === "Escape") select(null);
      else if (e.key === "+" || e.key === "=") zoomBy(1.5);
      else if (e.key === "-") zoomBy(1 / 1.5);
      else if (e.key === "0") { S.zoom = { pps: null, t0: 0 }; draw(); }
    });
  }

  function wireDrop() {
    const overlay = $("#drop-overlay");
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
    window.addEventListener("dragenter", (e) => { if (hasFiles(e)) { depth++; overlay.hidden = false; e.preventDefault(); } });
    window.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) overlay.hidden = true; });
    window.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
    window.addEventListener("drop", (e) => {
      depth = 0; overlay.hidden = true;
      if (!hasFiles(e)) return;
      e.preventDefault();
      addFiles(Array.from(e.dataTransfer.files));
    });
  }

  // ---------------------------------------------------------------- start
  async function start() {
    $("#message-close").addEventListener("click", hideMessage);
    $("#file-input").addEventListener("change", (e) => { addFiles(Array.from(e.target.files)); e.target.value = ""; });
    $("#zoom-in").addEventListener("click", () => zoomBy(1.5));
    $("#zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
    $("#zoom-fit").addEventListener("click", () => { S.zoom = { pps: null, t0: 0 }; if (timeline()) draw(); });
    $("#add-hit").addEventListener("click", addHitAtPlayhead);
    $("#import-markers").addEventListener("click", () => $("#markers-input").click());
    $("#markers-input").addEventListener("change", (e) => { for (const f of e.target.files) importMarkers(f); e.target.value = ""; });
    $("#make-exports").addEventListener("click", async () => {
      if (!S.jobId) return;
      try {
        await api("POST", `/api/jobs/${S.jobId}/exports`, { click: true, streamers: true, sessions: true, notation: true, cuesheet: true });
        showMessage("The exports are being made; they appear under Downloads when the run finishes.", "info");
        await refreshJobs();
      } catch (e) { showMessage(e.message); }
    });
    $("#player").addEventListener("seeked", () => updatePlayhead(true));
    $("#player").addEventListener("play", startTicking);
    for (const ev of ["play", "pause", "seeked", "timeupdate", "ratechange", "ended"]) $("#player").addEventListener(ev, followPreview);
    $("#preview-play").addEventListener("click", playPreview);
    $("#preview-audio").addEventListener("canplay", () => { S.previewTimes.ready = S.previewTimes.ready || Date.now(); });
    $("#preview-audio").addEventListener("playing", () => { S.previewTimes.playing = S.previewTimes.playing || Date.now(); });
    $("#player").addEventListener("error", () => {
      const p = $("#player");
      if (p.dataset.src) showMessage("The browser cannot play this video (editing codecs such as ProRes or DNxHD do not play in " +
        "browsers); the timeline and the outputs are fine: download the scored video, or upload an H.264 export " +
        "to watch it here.", "info");
    });
    window.addEventListener("resize", () => { if (timeline()) draw(); });
    wireTimeline();
    wireKeys();
    wireDrop();
    try { S.config = await api("GET", "/api/config"); } catch (e) { showMessage(e.message); }
    const m = /job=([0-9a-f]{16})/.exec(location.hash);
    if (m) S.jobId = m[1];
    await refreshJobs();
    schedulePoll();
    startTicking();
  }

  window.tempscore = { state: S, frameToTimecode: (f) => tcOf(f), selectJob };
  document.addEventListener("DOMContentLoaded", start);
})();
