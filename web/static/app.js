// openmcu demo: joins a room through the HTTP/JSON gateway with one
// RTCPeerConnection (no trickle ICE), shows the composite picture, plays the
// mixed sound, and follows the room's events.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const state = {
  room: '', id: '', name: '', token: '',
  pc: null, stream: null, watch: null,
  muted: false, joined: false, leaving: false,
  people: new Map(), // participantId -> {name, muted, speaking, level}
  recordings: new Map(), // recordingId -> Recording, running in this room
  retry: 0,
};
window.mcu = state; // for tests and the curious

// ---- HTTP/JSON gateway --------------------------------------------------

class APIError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body, signal) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const resp = await fetch(path, { method, headers, signal, body: body ? JSON.stringify(body) : undefined });
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!resp.ok) throw new APIError(resp.status, json && (json.error || json));
  return json;
}

const roomPath = () => `/v1/rooms/${encodeURIComponent(state.room)}`;

// ---- UI helpers -----------------------------------------------------------

function banner(text, kind = 'error', action = null) {
  const b = $('banner');
  if (!text) { b.hidden = true; return; }
  b.hidden = false;
  b.className = 'banner ' + kind;
  $('bannerText').textContent = text;
  const a = $('bannerAction');
  a.hidden = !action;
  if (action) { a.textContent = action.label; a.onclick = action.run; }
}

function setConn(text, kind) {
  const c = $('connState');
  c.hidden = !text;
  c.textContent = text || '';
  c.className = 'conn ' + (kind || '');
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}

function hue(s) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

// Participants that did not join from a browser say what they are.
const KIND_LABELS = { PARTICIPANT_KIND_RTP: 'phone', PARTICIPANT_KIND_SOURCE: 'camera' };

function upsert(p) {
  const prev = state.people.get(p.participantId) || { speaking: false, level: -127 };
  state.people.set(p.participantId, {
    ...prev,
    name: p.displayName || p.participantId,
    kind: p.kind || prev.kind,
    muted: !!p.muted,
    speaking: p.speaking ?? prev.speaking,
  });
}

function render() {
  const ul = $('participants');
  const ids = [...state.people.keys()].sort((a, b) => (a === state.id ? -1 : b === state.id ? 1 : a.localeCompare(b)));
  $('count').textContent = ids.length;
  const seen = new Set();
  for (const id of ids) {
    const p = state.people.get(id);
    seen.add(id);
    let li = ul.querySelector(`li[data-id="${CSS.escape(id)}"]`);
    if (!li) {
      li = document.createElement('li');
      li.dataset.id = id;
      li.innerHTML = '<span class="avatar"></span><span class="who"><span class="pname"></span><span class="meter"><i></i></span></span><span class="flags"></span>';
      ul.appendChild(li);
    }
    const av = li.querySelector('.avatar');
    av.textContent = initials(p.name);
    av.style.background = `hsl(${hue(id)} 55% 45%)`;
    li.querySelector('.pname').textContent = p.name + (id === state.id ? ' (you)' : '');
    // -60 dBFS .. -10 dBFS fills the meter.
    const pct = Math.max(0, Math.min(100, ((p.level + 60) / 50) * 100));
    li.querySelector('.meter i').style.width = pct + '%';
    li.dataset.speaking = p.speaking ? 'true' : 'false';
    li.classList.toggle('speaking', p.speaking);
    li.querySelector('.flags').textContent =
      [KIND_LABELS[p.kind], p.offline ? 'reconnecting' : '', p.muted ? 'muted' : ''].filter(Boolean).join(' · ');
    li.classList.toggle('is-muted', p.muted);
  }
  for (const li of [...ul.children]) if (!seen.has(li.dataset.id)) li.remove();
  ul.replaceChildren(...ids.map((id) => ul.querySelector(`li[data-id="${CSS.escape(id)}"]`)));
}

// ---- Room events (newline-delimited JSON) -------------------------------

function onEvent(ev) {
  if (ev.participantJoined) upsert(ev.participantJoined.participant);
  else if (ev.participantUpdated) upsert(ev.participantUpdated.participant);
  else if (ev.participantLeft) {
    state.people.delete(ev.participantLeft.participantId);
    if (ev.participantLeft.participantId === state.id && !state.leaving) {
      lost('You were removed from the room (' + (ev.participantLeft.reason || 'left') + ').');
    }
  } else if (ev.speakingStarted || ev.speakingStopped) {
    const e = ev.speakingStarted || ev.speakingStopped;
    const p = state.people.get(e.participantId);
    if (p) p.speaking = !!ev.speakingStarted;
  } else if (ev.audioLevels) {
    for (const l of ev.audioLevels.levels || []) {
      const p = state.people.get(l.participantId);
      if (p) { p.level = l.levelDbfs; p.speaking = l.speaking; }
    }
  } else if (ev.sourceState) {
    const p = state.people.get(ev.sourceState.participantId);
    if (p) p.offline = ev.sourceState.state !== 'SOURCE_STATE_KIND_CONNECTED';
  } else if (ev.recordingStarted) {
    const r = ev.recordingStarted.recording;
    if (r) state.recordings.set(r.recordingId, r);
    showRecording();
  } else if (ev.recordingStopped || ev.recordingFailed) {
    const e = ev.recordingStopped || ev.recordingFailed;
    const id = e.recording && e.recording.recordingId;
    if (id) state.recordings.delete(id);
    if (ev.recordingFailed) banner('Recording failed: ' + (ev.recordingFailed.reason || 'unknown reason'));
    showRecording();
  } else if (ev.recordingReconnecting) {
    banner('Live stream reconnecting: ' + (ev.recordingReconnecting.reason || 'connection lost'), 'info');
  } else if (ev.roomDeleted) {
    state.leaving = true;
    teardown();
    showJoin();
    banner(`The room "${state.room}" was closed.`, 'info');
    return;
  }
  render();
}

async function watch() {
  const ctl = new AbortController();
  state.watch = ctl;
  const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
  try {
    const resp = await fetch(roomPath() + '/events', { headers, signal: ctl.signal });
    if (!resp.ok) throw new APIError(resp.status, await resp.json().catch(() => null));
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.error) throw new APIError(msg.error.code === 5 ? 404 : 503, msg.error);
        if (msg.result) onEvent(msg.result);
      }
    }
    if (!state.leaving && state.joined) lost('The event stream ended.');
  } catch (e) {
    if (ctl.signal.aborted || state.leaving) return;
    lost('Lost the event stream: ' + e.message);
  }
}

// ---- Joining ------------------------------------------------------------

async function getMedia(withCamera, aec) {
  const audio = { echoCancellation: aec, noiseSuppression: aec, autoGainControl: aec };
  const video = withCamera ? { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } } : false;
  try {
    return await navigator.mediaDevices.getUserMedia({ audio, video });
  } catch (e) {
    if (withCamera && (e.name === 'NotFoundError' || e.name === 'NotReadableError' || e.name === 'OverconstrainedError')) {
      // No usable camera: join with the microphone alone.
      return navigator.mediaDevices.getUserMedia({ audio, video: false });
    }
    throw e;
  }
}

function iceGathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') { pc.removeEventListener('icegatheringstatechange', done); resolve(); } };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms); // send what we have rather than hang
  });
}

async function ensureRoom(create) {
  try {
    await api('GET', roomPath());
  } catch (e) {
    if (e.status !== 404) throw e;
    if (!create) throw new APIError(404, { message: `The room "${state.room}" doesn't exist.` });
    try {
      await api('POST', '/v1/rooms', { roomId: state.room });
    } catch (e2) {
      if (e2.status !== 409) throw e2; // someone else just made it: fine
    }
  }
}

async function connect() {
  const pc = new RTCPeerConnection();
  state.pc = pc;
  for (const t of state.stream.getTracks()) pc.addTrack(t, state.stream);
  if (!state.stream.getVideoTracks().length) pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => {
    if (e.track.kind === 'audio') {
      $('audio').srcObject = new MediaStream([e.track]);
      $('audio').play().catch(() => banner('Click anywhere to hear the meeting.', 'info'));
    } else {
      $('video').srcObject = new MediaStream([e.track]);
    }
  };
  pc.onconnectionstatechange = () => {
    const s = pc.connectionState;
    if (pc !== state.pc) return;
    if (s === 'connected') { setConn('Connected', 'ok'); state.retry = 0; banner(''); }
    else if (s === 'connecting') setConn('Connecting…');
    else if (s === 'disconnected') {
      setConn('Unstable', 'warn');
      setTimeout(() => { if (pc === state.pc && pc.connectionState === 'disconnected') lost('The media connection dropped.'); }, 5000);
    } else if (s === 'failed') lost('The media connection failed.');
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await iceGathered(pc, 3000);
  const res = await api('POST', roomPath() + '/participants', {
    participantId: state.id, displayName: state.name, sdpOffer: pc.localDescription.sdp,
  });
  await pc.setRemoteDescription({ type: 'answer', sdp: res.sdpAnswer });
}

async function loadRoom() {
  const room = await api('GET', roomPath());
  state.people.clear();
  for (const p of room.participants || []) upsert(p);
  const kind = room.video && room.video.layout && room.video.layout.kind;
  if (kind && kind !== 'LAYOUT_KIND_UNSPECIFIED') $('layout').value = kind;
  render();
}

// resync refreshes the list from a snapshot now and then, in case an event
// was missed while the stream was being (re)opened.
let resyncTimer = null;
function resync() {
  clearInterval(resyncTimer);
  resyncTimer = setInterval(() => {
    if (!state.joined || reconnecting) return;
    api('GET', roomPath()).then((room) => {
      const ids = new Set((room.participants || []).map((p) => p.participantId));
      for (const id of [...state.people.keys()]) if (!ids.has(id)) state.people.delete(id);
      for (const p of room.participants || []) if (!state.people.has(p.participantId)) upsert(p);
      render();
    }).catch(() => {});
  }, 4000);
}

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 32) || 'guest';
}

async function join(ev) {
  if (ev) ev.preventDefault();
  state.room = $('room').value.trim();
  state.name = $('name').value.trim();
  state.token = $('token').value.trim();
  if (!state.room || !state.name) return;
  state.id = slug(state.name) + '-' + Math.random().toString(36).slice(2, 7);
  state.leaving = false;
  state.muted = false;
  banner('');
  $('joinBtn').disabled = true;
  $('joinBtn').textContent = 'Joining…';
  try {
    state.stream = await getMedia($('camera').checked, $('aec').checked);
  } catch (e) {
    $('joinBtn').disabled = false; $('joinBtn').textContent = 'Join';
    if (e.name === 'NotAllowedError' || e.name === 'SecurityError') {
      banner('Camera and microphone access was denied. Allow it in the browser (the icon in the address bar), then try again.');
    } else if (e.name === 'NotFoundError') {
      banner('No microphone was found. Plug one in and try again.');
    } else {
      banner('Could not open the camera or microphone: ' + e.message);
    }
    return;
  }
  try {
    await ensureRoom($('create').checked);
    await connect();
    state.joined = true;
    // Subscribe first, then take the snapshot, so no join falls between.
    watch();
    await loadRoom();
    showCall();
    resync();
    history.replaceState(null, '', '?room=' + encodeURIComponent(state.room));
  } catch (e) {
    teardown();
    banner(e.status === 404 ? e.message : e.status === 401 ? 'The server wants an API token (Advanced).' : 'Could not join: ' + e.message);
  } finally {
    $('joinBtn').disabled = false;
    $('joinBtn').textContent = 'Join';
  }
}

// ---- Connection loss and reconnect ---------------------------------------

let reconnecting = false;
async function lost(why) {
  if (reconnecting || state.leaving || !state.joined) return;
  reconnecting = true;
  setConn('Reconnecting…', 'warn');
  while (!state.leaving) {
    state.retry++;
    const wait = Math.min(10, 2 ** (state.retry - 1));
    banner(`${why} Reconnecting (attempt ${state.retry})…`, 'warn', { label: 'Leave', run: leave });
    await new Promise((r) => setTimeout(r, wait * 1000));
    if (state.leaving) break;
    try {
      if (state.watch) state.watch.abort();
      if (state.pc) state.pc.close();
      await api('DELETE', `${roomPath()}/participants/${encodeURIComponent(state.id)}`).catch(() => {});
      await api('GET', roomPath()); // 404: the room is gone, stop trying
      await connect();
      if (state.muted) await api('PATCH', `${roomPath()}/participants/${encodeURIComponent(state.id)}`, { muted: true });
      watch();
      await loadRoom();
      banner('Reconnected.', 'info');
      setTimeout(() => banner(''), 2500);
      break;
    } catch (e) {
      if (e.status === 404) {
        teardown(); showJoin();
        banner(`The room "${state.room}" no longer exists.`);
        break;
      }
      why = 'Still offline: ' + e.message + '.';
    }
  }
  reconnecting = false;
}

// ---- Controls -----------------------------------------------------------

async function toggleMute() {
  const want = !state.muted;
  try {
    await api('PATCH', `${roomPath()}/participants/${encodeURIComponent(state.id)}`, { muted: want });
    state.muted = want;
    $('muteBtn').classList.toggle('active', want);
    $('muteBtn').querySelector('.lbl').textContent = want ? 'Unmute' : 'Mute';
    const me = state.people.get(state.id);
    if (me) { me.muted = want; render(); }
  } catch (e) {
    banner('Could not change mute: ' + e.message);
  }
}

// Recording: one button starts an MP4 recording of the room and stops it.
// Every page shows the state from the room's events, whoever started it.
function showRecording() {
  const on = state.recordings.size > 0;
  $('recBtn').classList.toggle('active', on);
  $('recBtn').querySelector('.lbl').textContent = on ? 'Stop recording' : 'Record';
}

async function toggleRecording() {
  try {
    if (state.recordings.size > 0) {
      for (const id of [...state.recordings.keys()]) {
        await api('DELETE', `${roomPath()}/recordings/${encodeURIComponent(id)}`);
        state.recordings.delete(id);
      }
    } else {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const rec = await api('POST', roomPath() + '/recordings',
        { output: { path: `${state.room}-${stamp}.mp4`, format: 'RECORDING_FORMAT_MP4' } });
      state.recordings.set(rec.recordingId, rec);
    }
  } catch (e) {
    banner('Recording: ' + e.message);
  }
  showRecording();
}

async function setLayout() {
  try {
    await api('PUT', roomPath() + '/layout', { layout: { kind: $('layout').value } });
  } catch (e) {
    banner('Could not change the layout: ' + e.message);
  }
}

function teardown() {
  state.joined = false;
  clearInterval(resyncTimer);
  if (state.watch) state.watch.abort();
  if (state.pc) state.pc.close();
  state.pc = null;
  if (state.stream) for (const t of state.stream.getTracks()) t.stop();
  state.stream = null;
  $('video').srcObject = null;
  $('audio').srcObject = null;
  setConn('');
}

async function leave() {
  state.leaving = true;
  const path = `${roomPath()}/participants/${encodeURIComponent(state.id)}`;
  teardown();
  showJoin();
  banner('');
  await api('DELETE', path).catch(() => {});
}

function showCall() {
  $('joinView').hidden = true;
  $('callView').hidden = false;
  $('roomTitle').hidden = false;
  $('roomTitle').textContent = state.room;
  document.title = state.room + ' · openmcu';
}

function showJoin() {
  $('joinView').hidden = false;
  $('callView').hidden = true;
  $('roomTitle').hidden = true;
  document.title = 'openmcu';
}

// ---- Wiring -------------------------------------------------------------

$('joinForm').addEventListener('submit', join);
$('muteBtn').addEventListener('click', toggleMute);
$('leaveBtn').addEventListener('click', leave);
$('layout').addEventListener('change', setLayout);
$('recBtn').addEventListener('click', toggleRecording);
document.addEventListener('click', () => { if ($('audio').srcObject && $('audio').paused) $('audio').play().catch(() => {}); });
window.addEventListener('pagehide', () => {
  if (state.joined) {
    const path = `${roomPath()}/participants/${encodeURIComponent(state.id)}`;
    const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
    fetch(path, { method: 'DELETE', headers, keepalive: true }).catch(() => {});
  }
});
const video = $('video');
const showSize = () => {
  $('stageEmpty').hidden = video.videoWidth > 0;
  $('videoSize').textContent = video.videoWidth ? `${video.videoWidth}×${video.videoHeight}` : '';
};
video.addEventListener('resize', showSize);
video.addEventListener('loadedmetadata', showSize);

$('room').value = params.get('room') || '';
$('name').value = params.get('name') || localStorage.getItem('mcu.name') || '';
$('name').addEventListener('change', () => localStorage.setItem('mcu.name', $('name').value.trim()));
$('token').value = params.get('token') || '';
if (params.get('aec') === '0') $('aec').checked = false;
if (params.get('camera') === '0') $('camera').checked = false;
if (params.get('autojoin') === '1' && $('room').value && $('name').value) join();
