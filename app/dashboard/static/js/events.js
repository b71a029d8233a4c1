// The live feed: one graphql-transport-ws connection to /graphql carrying the `events`
// subscription. Pages listen with feed.on(fn); the header shows feed.status. After a lost
// connection the feed reconnects with backoff and tells listeners "changed" (look again: events
// may have been missed while it was down).

const EVENTS = "subscription Events { events { kind queue at taskId workerId } }";

const decoder = new TextDecoder();

function socketUrl() {
  const url = new URL("../graphql", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class EventFeed {
  constructor() {
    this.listeners = new Set();
    this.watchers = new Set();
    this.status = "connecting";
    this.detail = "";
    this.socket = null;
    this.failures = 0;
    this.wasLive = false;
    this.timer = null;
  }

  /** Call fn(event) for every event; returns the function that stops listening. */
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Call fn(status, detail) now and on every change of the connection's state. */
  watch(fn) {
    this.watchers.add(fn);
    fn(this.status, this.detail);
    return () => this.watchers.delete(fn);
  }

  start() {
    const socket = new WebSocket(socketUrl(), "graphql-transport-ws");
    // The server may send its JSON in binary frames: read those as UTF-8 text.
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.addEventListener("open", () => this.send({ type: "connection_init", payload: {} }));
    socket.addEventListener("message", (message) => this.receive(socket, message.data));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  receive(socket, raw) {
    if (socket !== this.socket) return;
    let message;
    try {
      message = JSON.parse(typeof raw === "string" ? raw : decoder.decode(raw));
    } catch {
      this.setStatus("error", "unreadable message from the server");
      return;
    }
    switch (message.type) {
      case "connection_ack":
        this.send({ type: "subscribe", id: "events", payload: { query: EVENTS, variables: {} } });
        this.failures = 0;
        this.setStatus("live", "");
        if (this.wasLive) this.dispatch({ kind: "changed", queue: null, at: Date.now() / 1000 });
        this.wasLive = true;
        break;
      case "next": {
        const payload = message.payload || {};
        if (payload.errors && payload.errors.length) {
          this.setStatus("error", payload.errors[0].message);
        } else if (payload.data && payload.data.events) {
          this.dispatch(payload.data.events);
        }
        break;
      }
      case "error":
        this.setStatus("error", (message.payload && message.payload[0]?.message) || "error");
        break;
      case "complete":
        // The server ended the feed: start over on a fresh connection.
        socket.close(1000, "feed completed");
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      default:
        break;
    }
  }

  dispatch(event) {
    for (const fn of this.listeners) fn(event);
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    const why = event.reason ? `${event.code} ${event.reason}` : `code ${event.code}`;
    this.setStatus("offline", `connection closed (${why}); reconnecting`);
    const delay = Math.min(10000, 500 * 2 ** this.failures);
    this.failures += 1;
    this.timer = setTimeout(() => this.start(), delay);
  }

  setStatus(status, detail) {
    this.status = status;
    this.detail = detail;
    for (const fn of this.watchers) fn(status, detail);
  }
}
