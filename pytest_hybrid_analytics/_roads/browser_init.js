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
  // Tests can reach an instance an npm bundle keeps private: window.__hybridAnalytics.instances
  Object.defineProperty(window, '__hybridAnalytics', {value: {instances: INSTANCES, flush}});

  // https://us.i.posthog.com/i/v0/e/?x=1 -> <COLLECTOR>/https/us.i.posthog.com/i/v0/e/?x=1
  function toCollector(url) {
    const u = new URL(String(url), location.href);
    if (u.href.startsWith(COLLECTOR + '/')) return u;
    return new URL(COLLECTOR + '/' + u.protocol.slice(0, -1) + '/' + u.host + u.pathname + u.search);
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

  function hookPrototype(proto) {
    if (!proto || Object.prototype.hasOwnProperty.call(proto, HOOKED)) return;
    const init = proto.init;
    if (typeof init !== 'function' || typeof proto.capture !== 'function') return;
    Object.defineProperty(proto, HOOKED, {value: true});
    proto.init = function (token, config, name) {
      const instance = init.call(this, token, withTestOptions(config, rewriteSupported(this)), name);
      if (instance && INSTANCES.indexOf(instance) === -1) {
        INSTANCES.push(instance);
        if (typeof instance.on === 'function') {   // posthog-js's public event hook
          instance.on('eventCaptured', (event) => { if (event && event.uuid) CAPTURED.push(event.uuid); });
        }
      }
      return instance;
    };
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
