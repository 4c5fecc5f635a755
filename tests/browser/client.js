/*
 * The test page of tests/test_browser.py: the vendor's own client code against the server under test.
 *
 * - The provider is `Rest` from @svar-ui/lib-data-provider (the queue that the Event Calendar's
 *   RestDataProvider is built on), given the six handlers of CONTRACT.md 1.1. Its ActionQueue maps temp ids
 *   to server ids and holds back every request that names a temp id not mapped yet.
 * - The socket is dhtmlx-gantt's `gantt.ext.liveUpdates.RemoteEvents`, the Event Calendar's own client, with
 *   handlers for the `events` and `calendars` channels written like the widget's `remoteUpdates(api,
 *   resolver)` (CONTRACT.md 4.7).
 * - The store stands in for the widget's: an EventBus (@svar-ui/lib-state) that applies each action to its
 *   own data and then hands it to the provider (`setNext`), as `calendar.api.setNext(restProvider)` does.
 *   Like the widget's, it keeps temp ids forever and refuses an id it holds already.
 *
 * The tests drive the page through `window.app` (at the end) with `page.evaluate`.
 */

import { Rest } from "@svar-ui/lib-data-provider";
import { EventBus, isTempID, tempID } from "@svar-ui/lib-state";

// The widget's base URL: it requests `${url}/events`, so no trailing slash.
const url = "/calendar/api";
// The queue's kinds, which its id resolver is asked for.
const EVENTS = 1;
const CALENDARS = 2;

const toDate = (value) => (value ? new Date(value) : null);
// A JSON copy: what the server would be sent (Dates become ISO strings, a File becomes {}).
const plain = (value) => JSON.parse(JSON.stringify(value));

class CalendarProvider extends Rest {
  getHandlers() {
    return {
      "add-event": { handler: (ev) => this.send("events", "POST", ev.event), ignoreID: true, kind: EVENTS },
      "update-event": { handler: (ev) => this.send(`events/${ev.id}`, "PUT", ev.event), kind: EVENTS },
      "delete-event": { handler: (ev) => this.send(`events/${ev.id}`, "DELETE"), kind: EVENTS },
      "add-calendar": {
        handler: (ev) => this.send("calendars", "POST", ev.calendar),
        ignoreID: true,
        kind: CALENDARS,
      },
      "update-calendar": {
        handler: (ev) => this.send(`calendars/${ev.id}`, "PUT", ev.calendar),
        kind: CALENDARS,
      },
      "delete-calendar": { handler: (ev) => this.send(`calendars/${ev.id}`, "DELETE"), kind: CALENDARS },
    };
  }

  async getEvents() {
    const events = await this.send("events", "GET");
    return events.map((event) => ({
      ...event,
      start_date: toDate(event.start_date),
      end_date: toDate(event.end_date),
    }));
  }

  getCalendars() {
    return this.send("calendars", "GET");
  }

  getIDResolver() {
    return (id, kind) => this.getQueue().resolve(id, kind);
  }
}

class Store extends EventBus {
  constructor(events, calendars) {
    super();
    this.events = new Map(events.map((event) => [event.id, event]));
    this.calendars = new Map(calendars.map((calendar) => [calendar.id, calendar]));
    this.handle("event", this.events);
    this.handle("calendar", this.calendars);
  }

  handle(kind, items) {
    this.on(`add-${kind}`, (ev) => {
      ev.id ??= ev[kind].id ?? tempID();
      // The widget sends its temp id in the POST body too; the server ignores it.
      ev[kind].id = ev.id;
      if (items.has(ev.id)) {
        throw new Error(`You have duplicated id: ${ev.id}`);
      }
      items.set(ev.id, this.checked({ ...ev[kind], id: ev.id }));
    });
    this.on(`update-${kind}`, (ev) => {
      const item = items.get(ev.id);
      if (item) {
        items.set(ev.id, this.checked({ ...item, ...ev[kind], id: ev.id }));
      }
    });
    this.on(`delete-${kind}`, (ev) => {
      items.delete(ev.id);
      if (kind === "calendar") {
        // The server sends no deletes for a deleted calendar's events: the widget drops them itself.
        for (const [id, event] of this.events) {
          if (event.type === ev.id) this.events.delete(id);
        }
      }
    });
  }

  checked(item) {
    // The widget moves an event whose `type` names no calendar (compared with ===) to the first calendar.
    if ("type" in item && !this.calendars.has(item.type) && this.calendars.size) {
      return { ...item, type: this.calendars.keys().next().value };
    }
    return item;
  }
}

// The Event Calendar's remoteUpdates(api, resolver): every change another device made, applied to the store
// with `skipProvider`, its ids mapped back to this client's temp ids where this client created the object.
function remoteUpdates(api, resolve) {
  return {
    events(value) {
      app.received.push({ name: "events", value: plain(value) });
      const { type, event } = value;
      const id = resolve(event.id, EVENTS);
      if (type === "delete-event") {
        return run(api, type, { id, skipProvider: true });
      }
      const local = {
        ...event,
        id,
        type: resolve(event.type, CALENDARS),
        start_date: toDate(event.start_date),
        end_date: toDate(event.end_date),
      };
      return run(api, type, { id, event: local, skipProvider: true });
    },
    calendars(value) {
      app.received.push({ name: "calendars", value: plain(value) });
      const { type, calendar } = value;
      const id = resolve(calendar.id, CALENDARS);
      if (type === "delete-calendar") {
        return run(api, type, { id, skipProvider: true });
      }
      return run(api, type, { id, calendar: { ...calendar, id }, skipProvider: true });
    },
  };
}

// Every action still on its way through the store and the provider (a held-back one stays here).
const inFlight = new Set();

function run(bus, name, ev) {
  const done = bus.exec(name, ev).catch((error) => {
    app.errors.push(`${name}: ${error.message || error}`);
  });
  inFlight.add(done);
  done.finally(() => inFlight.delete(done));
  return ev.id;
}

async function upload(file) {
  // As the widget's uploader: one file per request, form field "upload", no headers, the reply merged in.
  const entry = { id: tempID(), file, name: file.name, status: "client" };
  const body = new FormData();
  body.append("upload", file);
  try {
    const uploadURL = `${url}/uploads?token=${encodeURIComponent(app.token)}`;
    const response = await fetch(uploadURL, { method: "POST", body });
    const reply = await response.json();
    Object.assign(entry, reply, { status: reply.status || "server" });
  } catch (error) {
    entry.status = "error";
    app.errors.push(`upload: ${error.message}`);
  }
  return entry;
}

let provider;
let store;

const app = {
  token: null,
  received: [], // every value the socket handlers were called with, as sent
  errors: [], // actions that failed in the store or the provider
  uploads: [], // the file entries of the uploader, as the editor keeps them

  async start(token) {
    app.token = token;
    provider = new CalendarProvider(url);
    provider.setHeaders({ "Remote-Token": token });
    const [events, calendars] = await Promise.all([provider.getEvents(), provider.getCalendars()]);
    store = new Store(events, calendars);
    store.setNext(provider);

    const { RemoteEvents } = window.gantt.ext.liveUpdates;
    const remote = new RemoteEvents(`${url}/api/v1`, token);
    remote.on(remoteUpdates(store, provider.getIDResolver()));
    await remote.ready();
  },

  tempID,

  /** Run the widget's actions one after another in this task (so none waits for a reply); dates may be
   * ISO strings. Returns, for each action's id, the server id the queue knows right after (null: none). */
  exec(actions) {
    const ids = actions.map(([name, ev]) => {
      const item = ev.event;
      if (item) {
        for (const key of ["start_date", "end_date"]) {
          if (typeof item[key] === "string") item[key] = new Date(item[key]);
        }
      }
      return run(store, name, ev);
    });
    return { ids, serverIds: ids.map(app.serverId), sync: provider.getQueue().getSync() };
  },

  /** The values of the live updates `type` of object `id` (its server id) received so far. */
  heard(type, id) {
    return app.received
      .map(({ value }) => value)
      .filter((value) => value.type === type && (value.event || value.calendar).id === id);
  },

  serverId(id) {
    return provider.getQueue().getId(id);
  },

  /** Wait until every action has had its reply; fails after `ms` naming what is still held back. */
  async settled(ms) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        // For the message only: the queue's list of what it holds back.
        const queue = provider.getQueue()._awaitAddingQueue;
        const held = queue.map((item) => `${item.action} ${item.data.id}`).join(", ");
        reject(new Error(`${inFlight.size} actions unanswered after ${ms} ms; held back: ${held}`));
      }, ms);
    });
    try {
      while (inFlight.size) {
        await Promise.race([Promise.all([...inFlight]), timeout]);
      }
    } finally {
      clearTimeout(timer);
    }
  },

  /** The store as the server would name it: temp ids replaced by server ids, Dates as ISO strings; `own`
   * lists the (server) ids of what this tab created itself, which it still holds under temp ids. */
  snapshot() {
    const serverView = (item) => {
      const copy = plain({ ...item, id: app.serverId(item.id) });
      if ("type" in copy) copy.type = app.serverId(copy.type);
      return copy;
    };
    const own = (items) => [...items.keys()].filter(isTempID).map(app.serverId);
    return {
      events: [...store.events.values()].map(serverView),
      calendars: [...store.calendars.values()].map(serverView),
      own: { events: own(store.events), calendars: own(store.calendars) },
    };
  },

  local(kind, id) {
    const item = (kind === "event" ? store.events : store.calendars).get(id);
    return item === undefined ? null : plain(item);
  },

  /** Show each file of each event the way the widget does: its url in an <img>. */
  async showThumbnails() {
    const images = [];
    for (const event of store.events.values()) {
      for (const file of event.files || []) {
        const image = new Image();
        image.src = file.previewURL || file.url;
        const loaded = image.decode().then(
          () => ({ name: file.name, width: image.naturalWidth }),
          () => ({ name: file.name, width: 0 }),
        );
        images.push(loaded);
        document.getElementById("thumbnails").append(image);
      }
    }
    return Promise.all(images);
  },
};

document.getElementById("upload").addEventListener("change", async (event) => {
  const files = [...event.target.files];
  event.target.value = "";
  for (const file of files) {
    app.uploads.push(await upload(file));
  }
});

window.app = app;
