/*
 * The demo page: sign in, then run the DHTMLX Event Calendar against this site's API the way the vendor's
 * "Working with server" guide does (login -> setHeaders -> getEvents/getCalendars -> setNext).
 * When the widget cannot be loaded (no network, no licence), show the same data as a plain agenda.
 */

const config = JSON.parse(document.getElementById("calendar-config").textContent);
// The widget's base URL, without a trailing slash: it requests `${url}/events`.
const url = config.apiBase;
// A CDN that never answers would otherwise leave the page empty until the browser gives up.
const WIDGET_TIMEOUT_MS = 15000;

// ---------------------------------------------------------------------------------------------------
// Sign-in: one token per tab (sessionStorage), so that every tab is its own device on the server.

async function fetchToken() {
  const response = await fetch(config.loginUrl);
  if (!response.ok) {
    throw new Error(await errorMessage(response, "Sign-in failed"));
  }
  const token = (await response.text()).trim();
  sessionStorage.setItem(config.tokenKey, token);
  return token;
}

async function login() {
  const cached = sessionStorage.getItem(config.tokenKey);
  if (cached) {
    // A stored token may have expired or been revoked since: then sign in again, once.
    const check = await fetch(`${url}/calendars`, { headers: { "Remote-Token": cached } });
    if (check.status !== 401 && check.status !== 403) {
      return cached;
    }
    sessionStorage.removeItem(config.tokenKey);
  }
  return fetchToken();
}

async function errorMessage(response, prefix) {
  let detail = response.statusText;
  try {
    detail = (await response.json()).message || detail;
  } catch {
    // Not a JSON body: keep the status text.
  }
  return `${prefix}: ${detail} (HTTP ${response.status})`;
}

// ---------------------------------------------------------------------------------------------------
// The widget

function loadWidget() {
  const stylesheet = document.createElement("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = config.widgetStylesheet;
  document.head.append(stylesheet);

  return new Promise((resolve) => {
    const script = document.createElement("script");
    const timer = setTimeout(() => resolve(false), WIDGET_TIMEOUT_MS);
    script.onload = () => {
      clearTimeout(timer);
      resolve(Boolean(window.eventCalendar));
    };
    script.onerror = () => {
      clearTimeout(timer);
      resolve(false);
    };
    script.src = config.widgetScript;
    document.head.append(script);
  });
}

async function showWidget(token) {
  const { EventCalendar, RestDataProvider, defaultEditorShape } = window.eventCalendar;
  const restProvider = new RestDataProvider(url);
  restProvider.setHeaders({ "Remote-Token": token });

  const [events, calendars] = await Promise.all([restProvider.getEvents(), restProvider.getCalendars()]);
  const calendar = new EventCalendar("#root", {
    events,
    calendars,
    date: new Date(),
    editorShape: [
      ...defaultEditorShape.filter((field) => field.type !== "files"),
      // The uploader sends no headers, so the token rides in the upload URL.
      { type: "files", key: "files", label: "Files", uploadURL: `${url}/uploads?token=${encodeURIComponent(token)}` },
    ],
  });
  // Send every change the user makes to the server.
  calendar.api.setNext(restProvider);

  // Show every other user's changes as they happen (the vendor's multiuser guide).
  const { RemoteEvents, remoteUpdates } = window.eventCalendar;
  const remote = new RemoteEvents(`${url}/api/v1`, token);
  remote.on(remoteUpdates(calendar.api, restProvider.getIDResolver()));
  return calendar;
}

// ---------------------------------------------------------------------------------------------------
// The fallback agenda, from the same GET events and GET calendars calls

async function getJSON(path, token) {
  const response = await fetch(`${url}/${path}`, { headers: { "Remote-Token": token } });
  if (!response.ok) {
    throw new Error(await errorMessage(response, `GET ${path} failed`));
  }
  return response.json();
}

async function showAgenda(token) {
  const [events, calendars] = await Promise.all([getJSON("events", token), getJSON("calendars", token)]);
  renderAgenda(events, calendars);
  followChanges(token, events, calendars);
}

// Socket frames as the widget's RemoteEvents client speaks them (CONTRACT.md section 4), applied to the
// agenda's own copy of the data. Like that client, it reconnects after 2 s and subscribes again.
const RECONNECT_MS = 2000;

function followChanges(token, events, calendars) {
  const socketURL = new URL(`${url}/api/v1`, window.location.href);
  socketURL.protocol = socketURL.protocol === "https:" ? "wss:" : "ws:";
  socketURL.search = `?token=${token}&ws=1`;

  const apply = {
    events({ type, event }) {
      const index = events.findIndex((item) => item.id === event.id);
      if (type === "delete-event") {
        if (index >= 0) events.splice(index, 1);
      } else if (index >= 0) {
        events[index] = { ...events[index], ...event };
      } else if (type === "add-event") {
        events.push(event);
      }
    },
    calendars({ type, calendar }) {
      const index = calendars.findIndex((item) => item.id === calendar.id);
      if (type === "delete-calendar") {
        if (index >= 0) calendars.splice(index, 1);
        // The server sends no per-event deletes for a deleted calendar: drop its events here.
        events.splice(0, events.length, ...events.filter((event) => event.type !== calendar.id));
      } else if (index >= 0) {
        calendars[index] = { ...calendars[index], ...calendar };
      } else if (type === "add-calendar") {
        calendars.push(calendar);
      }
    },
  };

  const connect = () => {
    const socket = new WebSocket(socketURL);
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.action === "start") {
        for (const name of Object.keys(apply)) {
          socket.send(JSON.stringify({ action: "subscribe", name }));
        }
      } else if (frame.action === "event" && apply[frame.body.name]) {
        apply[frame.body.name](frame.body.value);
        renderAgenda(events, calendars);
      }
    };
    socket.onclose = () => setTimeout(connect, RECONNECT_MS);
  };
  connect();
}

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const shortDayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const DAY_MS = 24 * 60 * 60 * 1000;

/** Draw `events` (as GET events sends them) grouped by local day, replacing what was drawn before. */
export function renderAgenda(events, calendars) {
  const calendarsById = new Map(calendars.map((calendar) => [calendar.id, calendar]));
  const shown = events
    // Cancelled occurrences have no dates; hidden calendars are hidden in the widget too.
    .filter((event) => event.start_date && event.end_date && calendarsById.get(event.type)?.active !== false)
    .map((event) => ({ ...event, start: new Date(event.start_date), end: new Date(event.end_date) }))
    .sort((a, b) => a.start - b.start || a.end - b.end);

  const days = new Map();
  for (const event of shown) {
    const key = localDay(event.start);
    if (!days.has(key)) {
      days.set(key, []);
    }
    days.get(key).push(event);
  }

  const today = localDay(new Date());
  const sections = [];
  for (const [day, dayEvents] of days) {
    const heading = element("h2", dayFormat.format(dayEvents[0].start));
    heading.classList.toggle("today", day === today);
    const list = element("ul");
    list.append(...dayEvents.map((event) => agendaItem(event, calendarsById.get(event.type))));
    sections.push(heading, list);
  }
  if (sections.length === 0) {
    sections.push(element("p", "No events.", "empty"));
  }
  const agenda = document.getElementById("agenda");
  agenda.replaceChildren(...sections);
  agenda.hidden = false;
}

function agendaItem(event, calendar) {
  const color = { ...calendar?.color, ...event.color };
  const swatch = element("span", "", "swatch");
  swatch.style.background = color.background || "#5890DC";
  swatch.style.borderColor = color.border || color.background || "#2D74D3";

  const what = element("span");
  what.append(element("span", event.text || "(no title)", "text"));
  if (calendar) {
    what.append(element("span", calendar.label, "calendar"));
  }
  const frequency = /FREQ=(\w+)/.exec(event.RRULE || "")?.[1];
  if (frequency) {
    what.append(element("span", `repeats ${frequency.toLowerCase()}`, "badge"));
  }
  if (event.recurringEventId) {
    what.append(element("span", "edited occurrence", "badge"));
  }

  const item = element("li");
  item.append(element("span", describeTime(event), "when"), swatch, what);
  return item;
}

function describeTime(event) {
  if (event.allDay) {
    // Whole days from the start's day on, whichever midnight (local or UTC) the instants were stored at.
    const days = Math.max(1, Math.round((event.end - event.start) / DAY_MS));
    const lastDay = new Date(event.start);
    lastDay.setDate(lastDay.getDate() + days - 1);
    return days > 1 ? `All day, until ${shortDayFormat.format(lastDay)}` : "All day";
  }
  // The end is exclusive: an event that ends at midnight ends on the day before.
  const lastMoment = new Date(Math.max(event.start.getTime(), event.end.getTime() - 1));
  if (localDay(event.start) !== localDay(lastMoment)) {
    return `${timeFormat.format(event.start)} – ${shortDayFormat.format(event.end)} ${timeFormat.format(event.end)}`;
  }
  return `${timeFormat.format(event.start)} – ${timeFormat.format(event.end)}`;
}

function localDay(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text) {
    node.textContent = text;
  }
  if (className) {
    node.className = className;
  }
  return node;
}

// ---------------------------------------------------------------------------------------------------

function showNotice(message, kind) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  notice.classList.toggle("error", kind === "error");
  notice.hidden = false;
}

async function main() {
  const widgetLoaded = loadWidget();
  const token = await login();
  if (await widgetLoaded) {
    await showWidget(token);
    return;
  }
  showNotice(
    `The DHTMLX Event Calendar widget could not be loaded from ${config.widgetScript} ` +
      "(no network access, or no licence for this build). Below is a plain agenda of the same events instead.",
  );
  await showAgenda(token);
}

main().catch((error) => showNotice(`The calendar could not start: ${error.message}`, "error"));
