// comfy-recovery console: live job updates over the API's SSE stream, fleet refresh.
// Plain JavaScript, no library. Rendering stays on the server: on an event the page
// fetches its server-rendered body again.
"use strict";

function refresher(target, url) {
  let timer = null;
  return function refresh() {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      const answer = await fetch(url, { credentials: "same-origin" });
      if (answer.ok) target.innerHTML = await answer.text();
    }, 150);
  };
}

function followJob(body) {
  const state = document.getElementById("live-state");
  const refresh = refresher(body, body.dataset.body);
  const source = new EventSource(body.dataset.events);
  let ended = false;
  source.onopen = () => { state.textContent = "Live: updates appear as they happen."; };
  const onEvent = (message) => {
    let event = {};
    try { event = JSON.parse(message.data); } catch (_) { return; }
    if (event.type === "job.progress") {
      const bar = document.getElementById("job-progress");
      const text = document.getElementById("job-progress-text");
      if (bar) bar.value = event.percent;
      if (text) text.textContent = Math.round(event.percent) + "%";
      return;
    }
    if (event.type === "job.completed" || (event.type === "recovery.decided" && event.terminal)) {
      ended = true;
    } else if (event.type === "job.retry_requested") {
      ended = false;
    }
    refresh();
  };
  for (const type of body.dataset.types.split(" ")) source.addEventListener(type, onEvent);
  source.onerror = () => {
    // The stream closes when the job ends; the browser would replay it from the start.
    if (ended) {
      source.close();
      refresh();
      state.textContent = "The job has ended; nothing more will happen unless it is retried.";
    } else {
      state.textContent = "Live updates interrupted; reconnecting…";
    }
  };
}

function refreshFleet(body) {
  const refresh = refresher(body, body.dataset.refresh);
  setInterval(refresh, 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  const job = document.getElementById("job-body");
  if (job && job.dataset.events) followJob(job);
  const fleet = document.getElementById("fleet-body");
  if (fleet && fleet.dataset.refresh) refreshFleet(fleet);
});
