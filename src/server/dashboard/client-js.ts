/**
 * The dashboard's own browser script, served as `/assets/dashboard.js` (the CSP allows
 * scripts from the server only, never inline). It draws the rate chart with uPlot and runs
 * the live tail over server-sent events. Every string from the server is put in the page
 * with `textContent`, never as HTML.
 */
// biome-ignore lint/complexity/noUselessStringRaw: backslashes added to the script later must reach the browser as written
export const DASHBOARD_JS = String.raw`(function () {
  'use strict';

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // Overview: events per second, from the growth of the log's head position.
  function rateChart(box) {
    if (typeof uPlot === 'undefined') return;
    var xs = [], ys = [], last = null;
    var chart = new uPlot({
      width: Math.max(300, box.clientWidth || 600), height: 160,
      series: [{}, { label: 'events/s', stroke: '#2563eb', fill: 'rgba(37,99,235,0.12)' }],
      axes: [{}, { size: 50 }],
      scales: { x: { time: true } }
    }, [xs, ys], box);
    function tick() {
      fetch('/healthz', { headers: { accept: 'application/json' } }).then(function (r) { return r.json(); }).then(function (h) {
        var now = Date.now() / 1000;
        if (last !== null && typeof h.head === 'number') {
          xs.push(now); ys.push(Math.max(0, (h.head - last.head) / (now - last.t)));
          if (xs.length > 90) { xs.shift(); ys.shift(); }
          chart.setData([xs, ys]);
        }
        if (typeof h.head === 'number') last = { head: h.head, t: now };
      }).catch(function () {});
    }
    tick();
    setInterval(tick, 2000);
  }

  // Live tail: an EventSource on /v1/events/stream; a refused pattern or filter is shown as text.
  function liveTail(form) {
    var body = document.getElementById('tail-rows');
    var status = document.getElementById('tail-status');
    var source = null;
    function show(text, isError) {
      status.textContent = text;
      status.className = isError ? 'status error' : 'status';
    }
    function addRow(record) {
      var env = record.envelope || {}, event = env.event || {}, routing = env.routing || {};
      var row = el('tr');
      row.setAttribute('data-seq', String(record.seq));
      row.appendChild(el('td', record.seq));
      row.appendChild(el('td', event.timestamp));
      row.appendChild(el('td', routing.topic));
      var typeCell = el('td');
      var link = el('a', event.type);
      link.href = '/events/' + encodeURIComponent(event.id || '');
      typeCell.appendChild(link);
      row.appendChild(typeCell);
      row.appendChild(el('td', event.source));
      row.appendChild(el('td', event.correlation_id));
      row.appendChild(el('td', JSON.stringify(env.payload), 'payload'));
      body.insertBefore(row, body.firstChild);
      while (body.children.length > 200) body.removeChild(body.lastChild);
    }
    function start() {
      if (source) { source.close(); source = null; }
      var topic = form.elements.topic.value.trim() || '>';
      var filter = form.elements.filter.value.trim();
      var url = '/v1/events/stream?topic=' + encodeURIComponent(topic) + '&from=' + encodeURIComponent(form.elements.from.value);
      if (filter) url += '&filter=' + encodeURIComponent(filter);
      show('connecting…', false);
      // Ask once with fetch to read a refusal (problem+json); EventSource cannot see error bodies.
      var probe = new AbortController();
      fetch(url, { signal: probe.signal, headers: { accept: 'text/event-stream' } }).then(function (r) {
        if (!r.ok) {
          return r.json().then(function (p) { show((p && p.detail) || ('HTTP ' + r.status), true); });
        }
        probe.abort();
        source = new EventSource(url);
        source.addEventListener('ready', function () {
          show('tailing ' + topic + (filter ? ' where ' + filter : '') + ': waiting for events', false);
          form.setAttribute('data-live', 'true');
        });
        source.onmessage = function (message) {
          try { addRow(JSON.parse(message.data)); } catch (e) { /* a malformed line is skipped */ }
        };
        source.onerror = function () { show('disconnected, retrying…', true); };
      }).catch(function () { show('cannot reach the server', true); });
    }
    form.addEventListener('submit', function (e) { e.preventDefault(); start(); });
    document.getElementById('tail-clear').addEventListener('click', function () {
      while (body.firstChild) body.removeChild(body.firstChild);
    });
    start();
  }

  // Pretty-prints JSON in the fix-and-replay box (the server fills it as text).
  function fixForm(form) {
    form.addEventListener('submit', function (e) {
      var area = form.elements.payload;
      try { JSON.parse(area.value); } catch (err) {
        e.preventDefault();
        var out = document.getElementById('fix-error');
        if (out) out.textContent = 'payload is not valid JSON: ' + err.message;
      }
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var chart = document.getElementById('rate-chart');
    if (chart) rateChart(chart);
    var tail = document.getElementById('tail-form');
    if (tail) liveTail(tail);
    var fix = document.getElementById('fix-form');
    if (fix) fixForm(fix);
  });
})();
`;
