"""A run as one self-contained HTML document: the saved report and the explorer web pages.

Every row of the tree and of the timeline is in the document, with each execution's
details in a ``<template>``; a little inline script (no network, no library) filters by
status, collapses and expands subtrees (the ▸/▾ of a parent row, "Collapse all",
"Expand all": see ``outline``), pages through the rows left visible, switches between
tree and timeline and shows the selected row's details.
``live`` makes the page follow a run that is still going: it fetches its own ``<main>``
again when the control plane's event stream says something changed (``events``), or
every few seconds (``refresh``), keeping the reader's filter, page and selection.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from .._core.records import ExecutionRecord, Status
from .._core.run import RunTree
from .html import (
    ICONS,
    STYLESHEET,
    Extra,
    details,
    flat,
    header,
    row,
    rows_head,
    timeline_axis,
    timeline_row,
)

__all__ = ["PAGE_STYLE", "document", "list_document", "main"]

ExtraOf = Callable[[ExecutionRecord], "Extra | None"]

PAGE_STYLE = (
    STYLESHEET
    + """
:root{color-scheme:light dark}
body{margin:0;padding:12px 16px;background:Canvas;color:CanvasText}
.enb-bar-top{display:flex;gap:.4em;flex-wrap:wrap;align-items:center;margin:8px 0}
.enb-btn{font:inherit;font-size:12px;padding:2px 8px;border-radius:3px;cursor:pointer;
 border:1px solid rgba(127,127,127,.5);background:transparent;color:inherit}
.enb-btn.enb-on{background:rgba(37,99,235,.25);border-color:#2563eb}
.enb-rows [data-eagernb-id]{cursor:pointer}
.enb-rows [data-eagernb-id]:hover{background:rgba(127,127,127,.12)}
.enb-list td,.enb-list th{padding:2px 10px 2px 0;text-align:left}
"""
)

_SCRIPT = r"""
(function(){
var S={filter:null,tab:'tree',page:0,sel:null,size:200,closed:false,flip:{}};
function q(s,r){return (r||document).querySelector(s)}
function qa(s,r){return Array.prototype.slice.call((r||document).querySelectorAll(s))}
function isOpen(id,d){return ((d===0)||!S.closed)!==!!S.flip[id]}
// The rows to show, as eagernb/_views/outline.py computes them: a collapsed row hides its
// descendants (and counts those matching the filter); a row matching the filter brings
// its ancestors along, dimmed, so its path stays visible.
function visible(rows){
 var out=[],stack=[],fold=null;
 function reveal(){stack.forEach(function(e){if(!e.shown){e.shown=true;out.push(e)}})}
 rows.forEach(function(r,i){
  var d=+r.dataset.depth, next=rows[i+1], hit=!S.filter||r.dataset.status===S.filter;
  if(fold&&d>fold.d){if(hit){fold.n+=1; if(!fold.shown) reveal()} return}
  fold=null;
  while(stack.length&&stack[stack.length-1].d>=d) stack.pop();
  var parent=!!next&&+next.dataset.depth>d;
  var e={r:r,d:d,n:0,parent:parent,open:!parent||isOpen(r.dataset.eagernbId,d),ctx:!hit,
   shown:false};
  stack.push(e); if(hit) reveal(); if(!e.open) fold=e;
 });
 return out;
}
function apply(){
 var m=q('#enb-main'); if(!m) return;
 qa('.enb-tab',m).forEach(function(b){b.classList.toggle('enb-on',b.dataset.tab===S.tab)});
 qa('.enb-filter',m).forEach(function(b){
  b.classList.toggle('enb-on',(S.filter||'all')===b.dataset.status)});
 ['tree','timeline'].forEach(function(t){var e=q('#enb-'+t,m);
  if(e) e.style.display=(t===S.tab)?'':'none'});
 var rows=qa('#enb-'+S.tab+' [data-eagernb-id]',m);
 var shown=visible(rows);
 var pages=Math.max(1,Math.ceil(shown.length/S.size));
 S.page=Math.max(0,Math.min(S.page,pages-1));
 rows.forEach(function(r){r.style.display='none';
  r.classList.toggle('enb-sel',r.dataset.eagernbId===S.sel)});
 shown.slice(S.page*S.size,(S.page+1)*S.size).forEach(function(e){var r=e.r;
  r.style.display=''; r.classList.toggle('enb-ctx',e.ctx);
  if(!e.parent) return;
  r.dataset.fold=e.open?'open':'closed';
  var g=q('.enb-fold',r), n=q('.enb-inside',r);
  if(g) g.textContent=e.open?'\u25be':'\u25b8';
  if(n) n.textContent=e.open?'':'('+e.n+' inside)'});
 var p=q('#enb-page',m); if(p) p.textContent='page '+(S.page+1)+' of '+pages+
  ' ('+shown.length+' rows)';
 var d=q('#enb-detail',m), t=null;
 qa('template[data-for]',m).forEach(function(e){if(e.dataset.for===S.sel) t=e});
 if(d){d.innerHTML=''; if(t) d.appendChild(t.content.cloneNode(true));}
}
document.addEventListener('click',function(ev){
 var b=ev.target.closest('[data-act]');
 if(b){var a=b.dataset.act;
  if(a==='filter'){S.filter=b.dataset.status==='all'?null:b.dataset.status;S.page=0}
  else if(a==='tab'){S.tab=b.dataset.tab}
  else if(a==='prev'){S.page-=1} else if(a==='next'){S.page+=1}
  else if(a==='close'){S.sel=null}
  else if(a==='fold'){var id=b.closest('[data-eagernb-id]').dataset.eagernbId;
   if(S.flip[id]) delete S.flip[id]; else S.flip[id]=true}
  else if(a==='collapse'||a==='expand'){S.closed=(a==='collapse');S.flip={};S.page=0}
  apply(); return}
 var r=ev.target.closest('.enb-rows [data-eagernb-id]');
 if(r && !ev.target.closest('a')){S.sel=(S.sel===r.dataset.eagernbId)?null:r.dataset.eagernbId;
  apply()}
});
var busy=false, again=false, last=0;
function reload(){
 if(busy){again=true;return} busy=true;
 fetch(location.pathname+'?fragment=1'+(window.ENB_TOKEN?'&token='+ENB_TOKEN:''),
  {cache:'no-store'}).then(function(r){return r.text()}).then(function(t){
  var m=q('#enb-main'); if(m){m.outerHTML=t} apply();
 }).catch(function(){}).then(function(){busy=false;last=Date.now();
  if(again){again=false;setTimeout(reload,250)}});
}
function schedule(){var wait=Math.max(0,250-(Date.now()-last));
 if(!busy) setTimeout(reload,wait); else again=true}
function follow(){
 var m=q('#enb-main'); if(!m||m.dataset.final==='1') return;
 var ev=m.dataset.events, every=+m.dataset.refresh||0;
 if(ev&&window.fetch&&window.TextDecoder){
  var h=window.ENB_TOKEN?{Authorization:'Bearer '+ENB_TOKEN}:{};
  fetch(ev,{headers:h}).then(function(r){var rd=r.body.getReader(),dec=new TextDecoder();
   function pump(){return rd.read().then(function(x){
    if(x.done){schedule();return} dec.decode(x.value,{stream:true}); schedule(); return pump()})}
   return pump()}).catch(function(){});
 } else if(every){
  (function tick(){setTimeout(function(){reload();
   var m2=q('#enb-main'); if(m2&&m2.dataset.final!=='1') tick()},every)})();
 }
}
window.ENB_TOKEN=new URLSearchParams(location.search).get('token');
var m0=q('#enb-main'); S.sel=decodeURIComponent(location.hash.slice(1))||
 (m0&&m0.dataset.select)||null;
apply(); follow();
})();
"""


T = TypeVar("T")


def _paced(items: Sequence[T], pace: Callable[[], None] | None) -> Iterator[T]:
    if pace is None:
        yield from items
        return
    for item in items:
        pace()
        yield item


def _extra(extra_of: ExtraOf | None, record: ExecutionRecord) -> Extra | None:
    return None if extra_of is None else extra_of(record)


def main(
    tree: RunTree,
    extra_of: ExtraOf | None = None,
    *,
    live: Mapping[str, Any] | None = None,
    now: float | None = None,
    select: str | None = None,
    pace: Callable[[], None] | None = None,
) -> str:
    """The document's ``<main>``: header, controls, tree, timeline and every details pane.

    ``select``: the execution whose details show first. ``pace``: called before each
    execution is rendered (a background writer gives other threads their turn there).
    """
    now = now if now is not None else (tree.ended_at or time.time())
    counts = tree.counts()
    entries = flat(tree)
    value_limit = 20_000 if len(entries) <= 1000 else 2_000
    final = tree.status.is_final
    attrs = f'data-final="{1 if final else 0}"'
    if select:
        attrs += f' data-select="{html.escape(select)}"'
    if live and not final:
        if live.get("events"):
            attrs += f' data-events="{html.escape(str(live["events"]))}"'
        if live.get("refresh"):
            attrs += f' data-refresh="{int(live["refresh"])}"'
    filters = [
        f'<button class="enb-btn enb-filter" data-act="filter" data-status="all">'
        f"all {len(entries) - 1 if entries else 0}</button>"
    ]
    filters += [
        f'<button class="enb-btn enb-filter enb-c-{s.value}" data-act="filter" '
        f'data-status="{s.value}">{ICONS[s]} {s.value} {counts[s]}</button>'
        for s in Status
    ]
    controls = (
        '<div class="enb-bar-top">' + "".join(filters) + '<span style="flex:1"></span>'
        '<button class="enb-btn" data-act="collapse" title="Fold every subtree below the top '
        'level">Collapse all</button>'
        '<button class="enb-btn" data-act="expand" title="Unfold every subtree">Expand all'
        "</button>"
        '<button class="enb-btn enb-tab" data-act="tab" data-tab="tree">Tree</button>'
        '<button class="enb-btn enb-tab" data-act="tab" data-tab="timeline">Timeline</button>'
        '<button class="enb-btn" data-act="prev">◀</button><span id="enb-page"></span>'
        '<button class="enb-btn" data-act="next">▶</button></div>'
    )
    tree_rows = "".join(row(tree, r, d, now=now) for d, r in _paced(entries, pace))
    bars = "".join(timeline_row(tree, r, d, now=now) for d, r in _paced(entries, pace))
    templates = "".join(
        f'<template data-for="{html.escape(r.id)}">'
        f"{details(tree, r.id, _extra(extra_of, r), value_limit=value_limit)}</template>"
        for _, r in _paced(entries, pace)
    )
    return (
        f'<main id="enb-main" class="enb" {attrs}>{header(tree, counts)}{controls}'
        f'<div id="enb-tree" class="enb-rows">{rows_head()}{tree_rows}</div>'
        f'<div id="enb-timeline" class="enb-rows" style="display:none">'
        f"{timeline_axis(tree, now)}{bars}</div>"
        f'<div id="enb-detail"></div>{templates}</main>'
    )


def _wrap(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head>"
        f"<body>{body}<script>{_SCRIPT}</script></body></html>"
    )


def document(
    tree: RunTree,
    extra_of: ExtraOf | None = None,
    *,
    live: Mapping[str, Any] | None = None,
    nav: str = "",
    select: str | None = None,
    pace: Callable[[], None] | None = None,
) -> str:
    """The whole run as one HTML file that needs no network to view."""
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    body = (
        f"{nav}{main(tree, extra_of, live=live, select=select, pace=pace)}"
        f'<p class="enb enb-muted">eagernb run report · {html.escape(tree.id)} · '
        f"written {generated}</p>"
    )
    return _wrap(f"{tree.name} · {tree.status.value} · eagernb", body)


def list_document(title: str, rows: Sequence[Mapping[str, Any]], note: str = "") -> str:
    """Runs as a table; rows have ``href``, ``name``, ``status``, ``started_at``, ``children``."""
    body = [
        f'<main class="enb"><h2>{html.escape(title)}</h2>',
        f'<p class="enb-muted">{html.escape(note)}</p>' if note else "",
        '<table class="enb-list"><tr><th>run</th><th>status</th><th>started</th>'
        "<th>children</th><th>id</th></tr>",
    ]
    for item in rows:
        status = Status(item.get("status", "queued"))
        started = item.get("started_at")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else ""
        body.append(
            f'<tr data-eagernb-run="{html.escape(str(item.get("id", "")))}">'
            f'<td><a href="{html.escape(str(item["href"]))}">{html.escape(str(item["name"]))}</a>'
            f'</td><td><span class="enb-badge enb-s-{status.value}">{ICONS[status]} '
            f"{status.value}</span></td><td>{when}</td><td>{item.get('children', '')}</td>"
            f'<td class="enb-muted">{html.escape(str(item.get("id", "")))}</td></tr>'
        )
    if not rows:
        body.append('<tr><td colspan="5" class="enb-muted">No runs yet.</td></tr>')
    body.append("</table></main>")
    return _wrap(title, "".join(body))


def summary(tree: RunTree) -> dict[str, Any]:
    """What a list of runs shows about one run (JSON-friendly)."""
    return {
        "id": tree.id,
        "name": tree.name,
        "status": tree.status.value,
        "started_at": tree.started_at,
        "ended_at": tree.ended_at,
        "children": max(len(tree.records) - 1, 0),
    }


def dumps_summary(tree: RunTree) -> str:
    return json.dumps(summary(tree))
