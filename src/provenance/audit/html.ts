/**
 * The audit report as ONE self-contained HTML page (no external request: inline CSS and script,
 * and a Content-Security-Policy of `default-src 'none'` that forbids any): the graph dataset →
 * rounds → model → predictions (and the checkpoints), one column per kind, each node marked
 * verified, failed or not checked, its details and checks shown on click; below, every check and
 * what was not checked. The report is embedded as JSON (with `<` escaped, so no text in it can
 * close the script element) and drawn by a small inline script with SVG; text is set with
 * `textContent`, never parsed as HTML.
 *
 * Pure: a string out. Deliberately not here: any verification (`audit.ts`), writing the file.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import type { AuditReport } from './audit.ts';

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #dde1e8}
h1{font-size:18px;margin:0 0 4px}
.verdict.valid{color:#12733a}.verdict.invalid{color:#b42318}
main{display:flex;gap:16px;padding:16px 24px;align-items:flex-start}
#graph{background:#fff;border:1px solid #dde1e8;border-radius:6px;flex:1;overflow:auto}
#details{background:#fff;border:1px solid #dde1e8;border-radius:6px;width:360px;padding:12px;min-height:120px;word-break:break-all}
.node rect{stroke-width:2;rx:6;cursor:pointer}
.node[data-state=verified] rect{fill:#e7f6ec;stroke:#12733a}
.node[data-state=failed] rect{fill:#fdecea;stroke:#b42318}
.node[data-state=not-checked] rect{fill:#f1f2f4;stroke:#8a94a6;stroke-dasharray:4 3}
.node.selected rect{stroke-width:4}
.node text{font-size:12px;pointer-events:none}
.edge{stroke:#8a94a6;stroke-width:1.5;fill:none;marker-end:url(#arrow)}
.col{font-size:12px;font-weight:600;fill:#5b6577;text-transform:uppercase}
table{border-collapse:collapse;width:100%}td{padding:2px 6px;vertical-align:top;border-top:1px solid #eef0f3}
section{padding:0 24px 24px}.state-failed{color:#b42318}.state-verified{color:#12733a}.state-not-checked{color:#5b6577}
`;

const SCRIPT = `
(function(){
var report=JSON.parse(document.getElementById('report-data').textContent);
var NS='http://www.w3.org/2000/svg';
var kinds=['dataset','round','model','prediction','checkpoint'];
var W=210,H=44,GX=260,GY=64,X0=20,Y0=40;
var cols={};kinds.forEach(function(k){cols[k]=[]});
report.nodes.forEach(function(n){(cols[n.kind]||(cols[n.kind]=[])).push(n)});
var used=kinds.filter(function(k){return cols[k].length>0});
var pos={};var rows=1;
used.forEach(function(k,ci){cols[k].forEach(function(n,ri){pos[n.id]={x:X0+ci*GX,y:Y0+ri*GY}});rows=Math.max(rows,cols[k].length)});
var svg=document.createElementNS(NS,'svg');
svg.setAttribute('width',String(X0*2+Math.max(1,used.length)*GX));svg.setAttribute('height',String(Y0+rows*GY+20));
var defs=document.createElementNS(NS,'defs');var m=document.createElementNS(NS,'marker');
m.setAttribute('id','arrow');m.setAttribute('viewBox','0 0 10 10');m.setAttribute('refX','10');m.setAttribute('refY','5');
m.setAttribute('markerWidth','8');m.setAttribute('markerHeight','8');m.setAttribute('orient','auto');
var mp=document.createElementNS(NS,'path');mp.setAttribute('d','M0,0L10,5L0,10z');mp.setAttribute('fill','#8a94a6');m.appendChild(mp);defs.appendChild(m);svg.appendChild(defs);
used.forEach(function(k,ci){var t=document.createElementNS(NS,'text');t.setAttribute('class','col');t.setAttribute('x',String(X0+ci*GX));t.setAttribute('y','22');t.textContent=k+'s';svg.appendChild(t)});
report.edges.forEach(function(e){var a=pos[e.from],b=pos[e.to];if(!a||!b)return;var p=document.createElementNS(NS,'path');
p.setAttribute('class','edge');p.setAttribute('data-from',e.from);p.setAttribute('data-to',e.to);
var x1=a.x+W,y1=a.y+H/2,x2=b.x,y2=b.y+H/2;if(x2<=x1){x1=a.x+W/2;y1=a.y+H;x2=b.x+W/2;y2=b.y}
p.setAttribute('d','M'+x1+','+y1+' C'+(x1+40)+','+y1+' '+(x2-40)+','+y2+' '+x2+','+y2);svg.appendChild(p)});
var details=document.getElementById('details');
function show(n){
  Array.prototype.forEach.call(document.querySelectorAll('.node'),function(g){g.classList.toggle('selected',g.getAttribute('data-id')===n.id)});
  details.textContent='';var h=document.createElement('h2');h.textContent=n.label;h.style.fontSize='15px';details.appendChild(h);
  var s=document.createElement('p');s.className='state-'+n.state;s.textContent=n.kind+' — '+n.state;details.appendChild(s);
  var t=document.createElement('table');Object.keys(n.details).forEach(function(k){var r=t.insertRow();r.insertCell().textContent=k;r.insertCell().textContent=n.details[k]});
  details.appendChild(t);var ul=document.createElement('ul');
  report.checks.filter(function(c){return c.node===n.id}).forEach(function(c){var li=document.createElement('li');li.className='state-'+c.state;
  li.textContent=c.name+': '+c.state+(c.code?' ('+c.code+')':'')+' — '+c.detail;ul.appendChild(li)});details.appendChild(ul);
}
report.nodes.forEach(function(n){var p=pos[n.id];var g=document.createElementNS(NS,'g');g.setAttribute('class','node');
g.setAttribute('data-id',n.id);g.setAttribute('data-kind',n.kind);g.setAttribute('data-state',n.state);g.setAttribute('tabindex','0');
g.setAttribute('transform','translate('+p.x+','+p.y+')');var r=document.createElementNS(NS,'rect');r.setAttribute('width',String(W));r.setAttribute('height',String(H));g.appendChild(r);
var t1=document.createElementNS(NS,'text');t1.setAttribute('x','8');t1.setAttribute('y','18');t1.textContent=n.label.length>30?n.label.slice(0,29)+'…':n.label;g.appendChild(t1);
var t2=document.createElementNS(NS,'text');t2.setAttribute('x','8');t2.setAttribute('y','35');t2.textContent=n.state==='verified'?'✓ verified':n.state==='failed'?'✗ failed':'○ not checked';g.appendChild(t2);
g.addEventListener('click',function(){show(n)});g.addEventListener('keydown',function(ev){if(ev.key==='Enter')show(n)});svg.appendChild(g)});
document.getElementById('graph').appendChild(svg);
var tb=document.getElementById('checks');report.checks.forEach(function(c){var r=tb.insertRow();r.className='state-'+c.state;
r.insertCell().textContent=c.state;r.insertCell().textContent=(c.node?c.node+': ':'')+c.name;r.insertCell().textContent=c.detail+(c.code?' ('+c.code+')':'')});
var nc=document.getElementById('not-checked');report.notChecked.forEach(function(x){var li=document.createElement('li');li.textContent=x;nc.appendChild(li)});
})();
`;

/** The ε ledger as a static table: each client's ε by both accountants, rounds without DP flagged. */
function ledgerHtml(report: AuditReport, esc: (s: string) => string): string {
  const ledger = Array.isArray(report.ledger) ? report.ledger : [];
  if (ledger.length === 0) return '';
  const rows = ledger.map((e) => {
    const basic = e.unbounded ? '∞ (unbounded)' : e.epsilon.toFixed(4);
    const z =
      e.zcdp === null || e.zcdp === undefined
        ? 'n/a'
        : Number.isFinite(e.zcdp.epsilon)
          ? `${e.zcdp.epsilon.toFixed(4)} (ρ ${e.zcdp.rho.toPrecision(4)}, δ ${e.zcdp.delta.toExponential(1)})`
          : '∞';
    const none = e.roundsWithoutDp.length === 0 ? '' : esc(e.roundsWithoutDp.join(', '));
    return `<tr class="${e.unbounded ? 'state-failed' : 'state-verified'}"><td>${esc(e.clientId)}</td><td>${e.rounds.length}</td><td>${basic}</td><td>${z}</td><td>${none}</td></tr>`;
  });
  return `<h2>ε ledger</h2><table id="ledger"><thead><tr><th>client</th><th>rounds</th><th>ε (basic composition)</th><th>ε (zCDP)</th><th>rounds without DP</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/**
 * The self-contained HTML page of an audit report (module notes).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when `report` is not an audit report.
 */
export function auditHtml(report: AuditReport, title = 'confide provenance audit'): string {
  if (
    typeof report !== 'object' ||
    report === null ||
    !Array.isArray(report.nodes) ||
    !Array.isArray(report.checks)
  )
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'report must be an AuditReport');
  const data = JSON.stringify(report)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  const esc = (s: string): string =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const verdict = report.valid ? 'VALID: every check that ran verified' : `NOT VALID (${report.code})`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${esc(title)}</h1><div id="verdict" class="verdict ${report.valid ? 'valid' : 'invalid'}">${esc(verdict)}</div>
<div>${report.nodes.length} node(s), ${report.edges.length} link(s), ${report.checks.length} check(s); click a node for its details.</div></header>
<main><div id="graph"></div><aside id="details"><p>Select a node.</p></aside></main>
<section><h2>Checks</h2><table><tbody id="checks"></tbody></table>${ledgerHtml(report, esc)}<h2>Not checked</h2><ul id="not-checked"></ul></section>
<script type="application/json" id="report-data">${data}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
