// Live run log: a websocket that resumes from the last event seen, after any disconnect.
// The server sends {"events": [{"seq": n, "html": "..."}]}; each html fragment carries
// hx-swap-oob targets and is applied with htmx.swap. Unlike htmx's ws extension, this
// reconnects after every close (daphne closes idle sockets with 1000) and never replays twice.
(function () {
  "use strict";
  const REFUSED = 4403;

  function start(root) {
    let lastSeq = 0;
    let delay = 500;
    let socket = null;
    const conn = root.querySelector("[data-conn]");
    const hint = root.querySelector("[data-empty-hint]");
    const setConn = (text, cls) => {
      if (conn) { conn.textContent = text; conn.className = "conn " + (cls || ""); }
    };
    // Several runs can stream on one page (lanes): each root watches its own run's state.
    const finished = () => root.querySelector("[data-run-finished]") !== null;

    function apply(events) {
      let html = "";
      for (const event of events) {
        if (event.seq <= lastSeq) continue;
        html += event.html;
        lastSeq = event.seq;
      }
      if (html) {
        htmx.swap(document.getElementById("run-stream-sink"), html, { swapStyle: "none" });
        if (hint) hint.hidden = true;
        root.dataset.lastSeq = String(lastSeq);
      }
    }

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
      socket.onopen = () => {
        delay = 500;
        setConn("live", "ok");
        socket.send(JSON.stringify({ type: "resume", after: lastSeq }));
      };
      socket.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.events) apply(data.events);
        if (finished()) setConn("finished", "done");
      };
      socket.onclose = (event) => {
        if (event.code === REFUSED) { setConn("access refused", "bad"); return; }
        if (finished()) { setConn("finished", "done"); return; }
        setConn("reconnecting…", "bad");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    root.runStream = { get lastSeq() { return lastSeq; }, get socket() { return socket; } };
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-run-stream]").forEach(start);
  });
})();
