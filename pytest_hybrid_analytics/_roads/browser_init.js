// pytest-hybrid-analytics: injected into every page of an attached browser context, before the
// page's own scripts. It changes nothing in the app; it adjusts the options the app passes to
// posthog.init, whatever way posthog-js was loaded (snippet, <script src=array.js>, npm bundle).
//
//   opt_out_useragent_filter: true  headless Chromium is a bot to posthog-js otherwise: every
//                                   event would be dropped (blocked-uas.mjs, isLikelyBot)
//   request_queue_config            the batch goes out every FLUSH_MS ms instead of 3 s
//                                   (0: request_batching false, every event at once)
//   rewriteRequestPath              every SDK URL (fetch, XHR, <script>, and the sendBeacon at
//                                   pagehide that Playwright's route never sees) goes to the
//                                   harness's loopback collector, the original URL in its path
//
// While a test waits (analytics.wait_for), the harness nudges every page: posthog-js's own batch
// timer fires now instead of at the end of its interval, so the batch it holds leaves the way it
// always does (same request, same encoding), milliseconds after the event.
//
// It also tells the harness what the page's own scripts did wrong (an uncaught error, a script
// that failed to load, no posthog.init at all), by POST to <COLLECTOR>/page-note: Playwright's
// pageerror and requestfailed events do not reach a test blocked in wait_for.
(() => {
  const COLLECTOR = __COLLECTOR__;   // http://127.0.0.1:<port>/t/<test token>/browser
  const FLUSH_MS = __FLUSH_MS__;
  const HOOKED = Symbol.for('pytest-hybrid-analytics.hooked');
  if (window[HOOKED]) return;
  Object.defineProperty(window, HOOKED, {value: true});
  const INSTANCES = [];
  const CAPTURED = [];   // the uuid of every event posthog-js captured in this document
  // Send what posthog-js still holds in its batch queue now, and return the uuid of every event
  // it captured in this document, so the harness can wait until each one is recorded
  // (analytics.flush()), in flight or queued. posthog-js has no public flush, and its bundles
  // rename private fields: find the request queue by its methods (enqueue and unload, not the
  // retry queue's retriableRequest) and send it the way posthog-js does at pagehide.
  function requestQueue(instance) {
    if (instance._requestQueue) return instance._requestQueue;
    for (const value of Object.values(instance)) {
      if (value && typeof value === 'object' && typeof value.enqueue === 'function' &&
          typeof value.unload === 'function' && typeof value.retriableRequest !== 'function') {
        return value;
      }
    }
    return null;
  }
  function flush() {
    for (const instance of INSTANCES) {
      const queue = requestQueue(instance);
      if (queue) queue.unload();
    }
    return CAPTURED.slice();
  }
  // The nudge. posthog-js's request queue arms a batch timer (setTimeout, its flush interval)
  // when events come in, and keeps the timer's id beside the interval on itself. Every timer
  // the page arms is noted (id -> callback, delay) until it fires or is cleared; a nudge finds
  // the queue's pending timer (a live timer id among the queue's own numbers, whose delay is
  // another of them) and fires it early: clearTimeout, then its own callback, which sends the
  // batch exactly as the timer would have. A queue posthog-js holds back (paused before remote
  // config) has no timer, and is left alone. `within` is the wait's time in ms: a timer due
  // later than that would not have delivered in time, and is left alone too.
  const realSetTimeout = window.setTimeout;
  const realClearTimeout = window.clearTimeout;
  const LIVE = new Map();     // timer id -> {fn, ms, due, args}: armed, not fired nor cleared
  let within = null;          // while a wait is on: its time in ms (null: no wait)
  window.setTimeout = function (fn, ms, ...args) {
    if (typeof fn !== 'function') return realSetTimeout.apply(window, arguments);
    const id = realSetTimeout.call(window, function () {
      LIVE.delete(id);
      return fn.apply(this, arguments);
    }, ms, ...args);
    const delay = Number(ms) || 0;
    LIVE.set(id, {fn: fn, ms: delay, due: performance.now() + delay, args: args});
    return id;
  };
  window.clearTimeout = function (id) {
    LIVE.delete(id);
    return realClearTimeout.apply(window, arguments);
  };
  function batchTimer(queue) {
    const numbers = Object.values(queue).filter((value) => typeof value === 'number');
    for (const id of numbers) {
      const timer = LIVE.get(id);
      if (timer && numbers.some((value) => value !== id && value === timer.ms)) return id;
    }
    return null;
  }
  function fire(queue) {
    const id = within === null ? null : batchTimer(queue);
    if (id === null) return;
    const timer = LIVE.get(id);
    if (!(timer.due - performance.now() <= within)) return;
    LIVE.delete(id);
    realClearTimeout.call(window, id);
    timer.fn.apply(window, timer.args);
  }
  function watchQueue(queue) {
    if (!queue || queue[HOOKED]) return;
    Object.defineProperty(queue, HOOKED, {value: true});
    for (const name of ['enqueue', 'enable']) {
      const original = queue[name];
      if (typeof original !== 'function') continue;
      queue[name] = function () {
        const result = original.apply(this, arguments);
        // While a wait is on: events captured in one task leave in one batch, as they would.
        if (within !== null) Promise.resolve().then(() => fire(queue));
        return result;
      };
    }
  }
  function nudge(ms) {
    within = typeof ms === 'number' ? ms : null;
    if (within === null) return;
    for (const instance of INSTANCES) fire(requestQueue(instance) || {});
  }
  // What went wrong in the page, for analytics.page_errors (at most MAX_NOTES per document).
  // Sent one after the other, so they are kept in the order they happened (the page's own
  // fetch and sendBeacon are taken now, before its scripts can wrap them).
  const MAX_NOTES = 20;
  const send = window.fetch ? window.fetch.bind(window) : null;
  const beacon = navigator.sendBeacon ? navigator.sendBeacon.bind(navigator) : null;
  const stringify = JSON.stringify;
  let notes = 0;
  let sending = Promise.resolve();
  let inited = false;
  let reportedNoInit = null;   // the page URL reported as never calling posthog.init
  function note(data) {
    if (notes >= MAX_NOTES) return;
    notes += 1;
    const url = COLLECTOR + '/page-note';
    const body = stringify(Object.assign({page: location.href}, data));
    if (!send || document.visibilityState === 'hidden') {   // leaving: only a beacon gets out
      try { if (beacon) beacon(url, body); } catch (e) { /* the page is going away */ }
      return;
    }
    sending = sending
      .then(() => send(url, {method: 'POST', body: body, mode: 'no-cors', keepalive: true}))
      .catch(() => undefined);
  }
  window.addEventListener('error', (event) => {
    const target = event.target;
    if (target && target !== window && target.tagName === 'SCRIPT') {
      note({kind: 'script', src: target.src || '(inline script)'});
    } else if (event.message) {
      note({kind: 'error', message: String(event.message), source: event.filename || '',
            line: event.lineno || 0, column: event.colno || 0});
    }
  }, true);   // capture: a <script>'s load error does not bubble
  window.addEventListener('unhandledrejection', (event) => {
    const reason = event.reason;
    const text = reason && reason.stack ? String(reason.stack).split('\n')[0] : String(reason);
    note({kind: 'error', message: 'Uncaught (in promise) ' + text, source: ''});
  });
  // A page that has not called posthog.init once it has loaded (and its load handlers ran).
  if (window === window.top && /^https?:$/.test(location.protocol)) {
    window.addEventListener('load', () => setTimeout(() => {
      if (inited) return;
      const stub = window.posthog;
      const snippet = !!(stub && stub.__SV && Array.isArray(stub._i) && stub._i.length);
      reportedNoInit = location.href;
      note({kind: 'no-init', snippet: snippet});
    }, 0));
  }

  // Tests can reach an instance an npm bundle keeps private: window.__hybridAnalytics.instances
  Object.defineProperty(window, '__hybridAnalytics', {value: {instances: INSTANCES, flush, nudge}});

  // https://us.i.posthog.com/i/v0/e/?x=1 -> <COLLECTOR>/https/us.i.posthog.com/i/v0/e/?x=1
  function toCollector(url) {
    const u = new URL(String(url), location.href);
    if (u.href.startsWith(COLLECTOR + '/')) return u;
    return new URL(COLLECTOR + '/' + u.protocol.slice(0, -1) + '/' + u.host + u.pathname + u.search);
  }

  // The snippet loads posthog-js itself with a <script src> on PostHog's asset host. Playwright's
  // route answers that only while the test is inside a Playwright call, so a page a click
  // navigated to, with the test already blocked in wait_for, would never get its posthog-js:
  // the script goes to the collector too, which serves the SDK's own files.
  const POSTHOG_FILE = /^https?:\/\/([a-z0-9-]+\.)*posthog\.com(:\d+)?\/static\/[\w.\/-]+\.js(\?|$)/i;
  const scriptSrc = Object.getOwnPropertyDescriptor(HTMLScriptElement.prototype, 'src');
  if (scriptSrc && scriptSrc.set) {
    Object.defineProperty(HTMLScriptElement.prototype, 'src', {
      configurable: true,
      enumerable: scriptSrc.enumerable,
      get() { return scriptSrc.get.call(this); },
      set(value) {
        const text = String(value);
        scriptSrc.set.call(this, POSTHOG_FILE.test(text) ? toCollector(text).href : text);
      },
    });
  }

  function withTestOptions(config, supportsRewrite) {
    const c = Object.assign({}, config || {});
    c.opt_out_useragent_filter = true;
    if (FLUSH_MS > 0) {
      const queue = Object.assign({}, c.request_queue_config);
      queue.flush_interval_ms = Math.min(queue.flush_interval_ms || FLUSH_MS, FLUSH_MS);
      c.request_queue_config = queue;
    } else {
      c.request_batching = false;
    }
    if (supportsRewrite) {
      const appRewrite = c.rewriteRequestPath;   // an app's own proxy rewrite runs first
      c.rewriteRequestPath = (url) => toCollector(appRewrite ? appRewrite(url) : url);
    } else {
      // Older posthog-js has no rewriteRequestPath: point api_host itself at the collector.
      c.api_host = toCollector(c.api_host || 'https://us.i.posthog.com').href.replace(/\/$/, '');
    }
    return c;
  }

  // Does this build honour config.rewriteRequestPath? Ask its own router before init().
  function rewriteSupported(instance) {
    try {
      let called = false;
      const config = instance.config;
      const saved = Object.getOwnPropertyDescriptor(config, 'rewriteRequestPath');
      config.rewriteRequestPath = (url) => { called = true; return url; };
      instance.requestRouter.endpointFor('api', '/e/');
      if (saved) Object.defineProperty(config, 'rewriteRequestPath', saved);
      else delete config.rewriteRequestPath;
      return called;
    } catch (e) {
      return false;
    }
  }

  // init() is the public start; older builds (posthog-js 1.57's array.js and its own init
  // override) call _init() on a new instance directly. Recent init() calls _init() itself: the
  // options are adjusted once, by the outermost of the two (`starting` counts hooked calls).
  let starting = 0;
  function hookPrototype(proto) {
    if (!proto || Object.prototype.hasOwnProperty.call(proto, HOOKED)) return;
    const init = proto.init;
    const _init = proto._init;
    if (typeof init !== 'function' || typeof proto.capture !== 'function') return;
    Object.defineProperty(proto, HOOKED, {value: true});
    function started(self, token, config, rest, start) {
      if (!inited) {
        inited = true;
        if (reportedNoInit !== null) note({kind: 'init', page: reportedNoInit});
      }
      starting += 1;
      try {
        return start.call(self, token, withTestOptions(config, rewriteSupported(self)), ...rest);
      } finally {
        starting -= 1;
      }
    }
    if (typeof _init === 'function') {
      proto._init = function (token, config, ...rest) {
        if (starting > 0) return _init.apply(this, arguments);
        const result = started(this, token, config, rest, _init);
        adopt(this);   // _init sets up `this` (and returns nothing in older builds)
        return result;
      };
    }
    proto.init = function (token, config, ...rest) {
      if (starting > 0) return init.apply(this, arguments);
      const instance = started(this, token, config, rest, init);
      adopt(instance);
      return instance;
    };
  }
  function adopt(instance) {
    if (instance && INSTANCES.indexOf(instance) === -1) {
      INSTANCES.push(instance);
      watchQueue(requestQueue(instance));
      if (typeof instance.on === 'function') {   // posthog-js's public event hook
        instance.on('eventCaptured', (event) => { if (event && event.uuid) CAPTURED.push(event.uuid); });
      }
    }
  }

  // Every posthog-js build runs `this.__request_queue = []` in the PostHog constructor, before
  // any init(): a setter on Object.prototype catches that moment and hooks the class's init.
  // Non-enumerable, so for...in, Object.keys and JSON never see it.
  Object.defineProperty(Object.prototype, '__request_queue', {
    configurable: true,
    enumerable: false,
    set(value) {
      Object.defineProperty(this, '__request_queue',
        {value: value, writable: true, configurable: true, enumerable: true});
      try { hookPrototype(Object.getPrototypeOf(this)); } catch (e) { /* not PostHog */ }
    },
  });
})();
