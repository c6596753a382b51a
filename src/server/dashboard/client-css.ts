/**
 * The dashboard's styles, served as `/assets/dashboard.css` (no inline styles: the CSP
 * refuses them).
 */
export const DASHBOARD_CSS = `
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --soft: #f6f8fa; --accent: #2563eb;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); font-size: 14px; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); background: var(--soft); }
header strong { font-size: 1.05rem; }
nav { display: flex; flex-wrap: wrap; gap: .9rem; }
nav a { color: var(--fg); text-decoration: none; }
nav a.active, nav a:hover { color: var(--accent); text-decoration: underline; }
main { padding: 1rem 1.2rem 3rem; max-width: 1400px; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.payload { font-family: ui-monospace, monospace; font-size: 12px; max-width: 420px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
pre { background: var(--soft); border: 1px solid var(--line); padding: .7rem; overflow: auto; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.bars { font-family: ui-monospace, monospace; white-space: pre; line-height: 1.5; }
.muted { color: var(--muted); }
.status { color: var(--muted); margin: .3rem 0; }
.status.error, .error { color: var(--bad); }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 8px; border: 1px solid var(--line); font-size: 12px; }
.badge.open { color: var(--bad); border-color: var(--bad); } .badge.replayed { color: var(--ok); border-color: var(--ok); }
.badge.archived { color: var(--muted); }
form.inline { display: inline-flex; gap: .3rem; margin: 0; }
input[type=text], input[type=password], textarea, select { font: inherit; padding: .25rem .4rem; border: 1px solid var(--line); border-radius: 4px; }
textarea { width: 100%; min-height: 10rem; font-family: ui-monospace, monospace; font-size: 12px; }
button { font: inherit; padding: .2rem .7rem; border: 1px solid var(--line); border-radius: 4px; background: var(--soft); cursor: pointer; }
button:hover { border-color: var(--accent); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 1rem 2rem; }
.split { display: grid; grid-template-columns: 3fr 2fr; gap: 1.5rem; }
@media (max-width: 900px) { .split { grid-template-columns: 1fr; } }
.waterfall { width: 100%; border: 1px solid var(--line); background: var(--soft); }
.waterfall rect { fill: var(--accent); }
.waterfall text { font-size: 11px; fill: var(--fg); font-family: ui-monospace, monospace; }
.tree, .tree ul { list-style: none; padding-left: 1.1rem; margin: 0; }
.tree li { border-left: 1px dashed var(--line); padding: .1rem 0 .1rem .5rem; }
.tree > li { border-left: none; }
.toolbar { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .5rem; }
.toolbar input[type=text] { min-width: 16rem; }
.chart { min-height: 170px; }
.gap { border: 1px dashed var(--warn); padding: .6rem; color: var(--warn); }
`;
