// Live run log: a websocket that resumes from the last event seen, after any disconnect.
// The page arrives with the stored log already rendered and data-last-seq on the root; the
// socket resumes after it. The server sends {"events": [{"seq": n, "html": "..."}]}, a long
// catch-up in several such batches; each html fragment carries hx-swap-oob targets and is
// applied with htmx.swap. Unlike htmx's ws extension, this
// reconnects after every close (daphne closes idle sockets with 1000) and never replays twice.
//
// Roots are [data-run-stream] elements. data-run-stream="lazy" waits until the <details> it
// holds is opened (older turns of a conversation). Roots swapped in later by htmx start too;
// a root htmx removes closes its socket. When a run finishes or pauses for approval, its root
// fires "run-finished" / "run-paused" (bubbling), so parts of the page can refresh themselves.
(function () {
  "use strict";
  const REFUSED = 4403;
  const PROGRESS_MS = 1000;

  function start(root) {
    if (root.runStream) return;
    let lastSeq = Number(root.dataset.lastSeq) || 0;
    let delay = 500;
    let socket = null;
    let stopped = false;
    const conn = root.querySelector("[data-conn]");
    const hint = root.querySelector("[data-empty-hint]");
    const setConn = (text, cls) => {
      if (conn) { conn.textContent = text; conn.className = "conn " + (cls || ""); }
    };
    // Several runs can stream on one page (lanes, turns): each root watches its own state.
    const finished = () => root.querySelector("[data-run-finished]") !== null;
    const paused = () => root.querySelector("[data-run-paused]") !== null;
    let wasFinished = finished();
    let wasPaused = paused();

    function announce() {
      const nowFinished = finished();
      const nowPaused = paused();
      if (nowFinished && !wasFinished) root.dispatchEvent(new CustomEvent("run-finished", { bubbles: true }));
      if (nowPaused && !wasPaused) root.dispatchEvent(new CustomEvent("run-paused", { bubbles: true }));
      wasFinished = nowFinished;
      wasPaused = nowPaused;
    }

    // A log that scrolls by itself (turns, lanes) follows its newest step, as a chat does,
    // unless the reader scrolled up: a pending approval is never hidden below the fold.
    const log = root.querySelector("ol.log");
    const following = () => !log || log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (log && lastSeq) log.scrollTop = log.scrollHeight;

    // The run's timeline refreshes itself on "run-progress-<id>": at most once a second, and
    // always once after the last events (htmx's own throttle would drop that last one).
    let progressTimer = null;
    let progressAt = 0;
    function progress() {
      if (!root.dataset.runId || progressTimer) return;
      const wait = Math.max(0, PROGRESS_MS - (Date.now() - progressAt));
      progressTimer = setTimeout(() => {
        progressTimer = null;
        progressAt = Date.now();
        document.body.dispatchEvent(new CustomEvent("run-progress-" + root.dataset.runId));
      }, wait);
    }

    function apply(events) {
      let html = "";
      for (const event of events) {
        if (event.seq <= lastSeq) continue;
        html += event.html;
        lastSeq = event.seq;
      }
      if (html) {
        const follow = following();
        htmx.swap(document.getElementById("run-stream-sink"), html, { swapStyle: "none" });
        if (follow && log) log.scrollTop = log.scrollHeight;
        if (hint) hint.hidden = true;
        root.dataset.lastSeq = String(lastSeq);
        progress();
        announce();
      }
    }

    function connect() {
      if (stopped) return;
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
      socket.onopen = () => {
        if (finished()) setConn("finished", "done");
        else setConn("live", "ok");
        socket.send(JSON.stringify({ type: "resume", after: lastSeq }));
      };
      socket.onmessage = (message) => {
        // Only a socket that delivers resets the back-off: one the server accepts and closes
        // at once (4013 while Redis is down) keeps backing off.
        delay = 500;
        const data = JSON.parse(message.data);
        if (data.events) apply(data.events);
        if (finished()) setConn("finished", "done");
      };
      socket.onclose = (event) => {
        if (stopped) return;
        if (event.code === REFUSED) { setConn("access refused", "bad"); return; }
        if (finished()) { setConn("finished", "done"); return; }
        setConn("reconnecting…", "bad");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    root.addEventListener("htmx:beforeCleanupElement", (event) => {
      if (event.target !== root) return;
      stopped = true;
      if (socket) socket.close();
    });
    connect();
    root.runStream = { get lastSeq() { return lastSeq; }, get socket() { return socket; } };
  }

  function startWhenOpened(root) {
    const details = root.querySelector("details");
    if (!details || details.open) { start(root); return; }
    details.addEventListener("toggle", () => { if (details.open) start(root); }, { once: true });
  }

  function startAll(container) {
    container.querySelectorAll("[data-run-stream]").forEach((root) => {
      if (root.dataset.runStream === "lazy") startWhenOpened(root);
      else start(root);
    });
  }

  // A timeline bar scrolls to its step in the log, and marks it for a moment.
  document.addEventListener("click", (event) => {
    const bar = event.target.closest("a.tl-bar[data-seq]");
    if (!bar) return;
    const step = document.getElementById(bar.getAttribute("href").slice(1));
    if (!step) return;
    event.preventDefault();
    step.scrollIntoView({ block: "center", behavior: "smooth" });
    step.classList.remove("ev-flash");
    void step.offsetWidth;
    step.classList.add("ev-flash");
    history.replaceState(null, "", bar.getAttribute("href"));
  });

  document.addEventListener("DOMContentLoaded", () => {
    startAll(document);
    // Content htmx swaps in (a new turn of a conversation) streams too.
    document.body.addEventListener("htmx:load", (event) => {
      if (event.target !== document.body) startAll(event.target.parentElement || event.target);
    });
  });
})();
