window.__qaShowCitation = (turn, marker) => trigger('click', {turn: Number(turn),
  marker: Number(marker)});
if (!window.__qaCiteListener) {
  window.__qaCiteListener = true;
  document.addEventListener('click', (event) => {
    const link = event.target.closest ? event.target.closest('a.qa-cite') : null;
    if (!link) return;
    const target = /qa-cite-(\d+)-(\d+)/.exec(link.getAttribute('href') || '');
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    window.__qaShowCitation(target[1], target[2]);
  }, true);
}
const scrollToQuote = () => {
  const doc = element.querySelector('.qa-doc');
  const mark = element.querySelector('.qa-doc-mark');
  if (doc && mark) doc.scrollTop = Math.max(0, mark.offsetTop - doc.clientHeight / 3);
  const panel = element.querySelector('.qa-panel[data-turn]');
  if (panel && window.innerWidth < 900) panel.scrollIntoView({behavior: 'smooth'});
};
watch('value', scrollToQuote);
scrollToQuote();
