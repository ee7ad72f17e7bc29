(function () {
  var data = {};
  document.querySelectorAll('script.data').forEach(function (s) {
    var all = JSON.parse(s.textContent);
    Object.keys(all).forEach(function (k) { data[k] = all[k]; });
  });
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function show(v) { return (typeof v === 'string') ? v : JSON.stringify(v, null, 2); }
  function rows(obj, flagged, prefix, t) {
    t = t || el('table');
    Object.keys(obj).sort().forEach(function (k) {
      var tr = el('tr', flagged.indexOf((prefix || '') + k) >= 0 ? 'flagged' : '');
      tr.appendChild(el('td', '', k));
      tr.appendChild(el('td', '', show(obj[k])));
      t.appendChild(tr);
    });
    return t;
  }
  // The person properties an event sets, in PostHog's order: $set_once, $set, $unset.
  var OPS = [['$set_once', 'set once: kept if the person already has it'],
    ['$set', 'set: replaces the value'], ['$unset', 'unset: removed']];
  function personRows(person, flagged) {
    var t = el('table', 'person-props');
    OPS.forEach(function (op) {
      var values = person[op[0]];
      if (!values) return;
      var head = el('tr', 'op-row');
      var cell = el('td', 'op', op[0] + ' \u2014 ' + op[1]);
      cell.colSpan = 2;
      head.appendChild(cell);
      t.appendChild(head);
      if (Array.isArray(values)) {
        var removed = {};
        values.forEach(function (k) { removed[k] = '(removed)'; });
        values = removed;
      }
      rows(values, flagged, op[0] + '.', t);
    });
    return t;
  }
  function select(key) {
    var mark = document.querySelector('.mark[data-key="' + key + '"]');
    var d = data[key];
    if (!mark || !d) return;
    var run = mark.closest('details.bunch');
    if (run) run.open = true;
    var section = mark.closest('section');
    section.querySelectorAll('.mark.selected').forEach(function (m) {
      m.classList.remove('selected');
    });
    mark.classList.add('selected');
    var panel = section.querySelector('.panel');
    panel.textContent = '';
    panel.appendChild(el('h4', '', d.kind === 'event' ? d.facts.event : 'Rejected request'));
    var facts = el('div', 'facts-list');
    Object.keys(d.facts).forEach(function (k) {
      if (k === 'event') return;
      var s = el('span', '', k + ': ');
      s.appendChild(el('b', '', show(d.facts[k])));
      facts.appendChild(s);
    });
    panel.appendChild(facts);
    if (d.merge) {
      panel.appendChild(el('div', 'merge-note' + (d.refused ? ' refused' : ''), 'Merge: '
        + d.merge));
    }
    d.notes.forEach(function (n) { panel.appendChild(el('div', 'note', n)); });
    var own = {}, posthog = {};
    Object.keys(d.props).forEach(function (k) {
      var sdk = k.charAt(0) === '$' || k === 'distinct_id' || k === 'token';
      (sdk ? posthog : own)[k] = d.props[k];
    });
    var phKeys = Object.keys(posthog).length;
    var person = d.person || {};
    var sets = Object.keys(person).length;
    if (Object.keys(own).length) {
      panel.appendChild(rows(own, d.flagged));
    } else {
      panel.appendChild(el('p', 'muted', sets ? 'No event properties of its own.'
        : "No properties of its own, only the SDK's."));
    }
    if (sets) {
      panel.appendChild(el('h5', '', 'Person properties'));
      panel.appendChild(personRows(person, d.flagged));
    }
    if (phKeys) {
      var det = el('details');
      det.appendChild(el('summary', '', 'SDK properties: $-properties, distinct_id, token ('
        + phKeys + ')'));
      det.appendChild(rows(posthog, d.flagged));
      panel.appendChild(det);
    }
  }
  document.addEventListener('click', function (ev) {
    var target = ev.target.closest('[data-key]');
    if (!target) return;
    if (target.tagName === 'A') {
      ev.preventDefault();
      var mark = document.querySelector('.mark[data-key="' + target.dataset.key + '"]');
      if (mark) mark.scrollIntoView({block: 'center', inline: 'center'});
    }
    select(target.dataset.key);
  });
})();
