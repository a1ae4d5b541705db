// The citation panel's script (runs in the panel's gr.HTML: `element`, `trigger`, `watch`).
// Taps on any [n] on the page (the chat is another component) are caught at the document and
// handed to the panel's own trigger, so Python renders the source. The turn and marker ride
// in the href: the chat's sanitiser strips data-* attributes.
window.__qaShowCitation = (turn, marker) => trigger('click', {turn: Number(turn),
  marker: Number(marker)});

// Below the chat (a phone) the panel is off screen: show it only when a marker is tapped,
// never when an answer arrives, so the citizen keeps reading the answer.
const qaStacked = () => {
  const chat = document.querySelector('#qa-chat');
  const side = document.querySelector('#qa-side');
  if (!chat || !side) return false;
  return side.getBoundingClientRect().top >= chat.getBoundingClientRect().bottom - 1;
};
// Gradio scopes the page's CSS to its container: the class goes on the panel's column.
const qaMarkStacked = () => {
  const side = document.querySelector('#qa-side');
  if (side) side.classList.toggle('qa-stacked', qaStacked());
};
// Beside the chat (a desktop) the panel is on screen, but a long passage can push the document's
// quoted sentence below the fold: bring that sentence into view, moving the page only then.
const qaShowPanel = () => {
  const panel = document.querySelector('#qa-citation .qa-panel[data-turn]');
  if (!panel) return;
  if (qaStacked()) {
    panel.scrollIntoView({behavior: 'smooth', block: 'start'});
    return;
  }
  const mark = panel.querySelector('.qa-doc-mark');
  const box = mark && mark.getBoundingClientRect();
  if (box && (box.top < 0 || box.bottom > window.innerHeight)) {
    mark.scrollIntoView({behavior: 'smooth', block: 'center'});
  }
};

if (!window.__qaCiteListener) {
  window.__qaCiteListener = true;
  document.addEventListener('click', (event) => {
    const found = (selector) => (event.target.closest ? event.target.closest(selector) : null);
    const back = found('#qa-citation button.qa-back');
    if (back) {
      const panel = back.closest('.qa-panel[data-turn]');
      const answer = panel && document.querySelector(
        `#qa-chat .qa-answer.qa-turn-${panel.getAttribute('data-turn')}`);
      if (answer) answer.scrollIntoView({behavior: 'smooth', block: 'start'});
      return;
    }
    const link = found('a.qa-cite');
    if (!link) return;
    const target = /qa-cite-(\d+)-(\d+)/.exec(link.getAttribute('href') || '');
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    const shown = document.querySelector(
      `#qa-citation .qa-panel[data-turn="${target[1]}"][data-marker="${target[2]}"]`);
    if (shown) {
      qaShowPanel();  // already there: the panel will not change, so no update will scroll
    } else {
      window.__qaPanelWanted = true;
      window.__qaShowCitation(target[1], target[2]);
    }
  }, true);
  window.addEventListener('resize', qaMarkStacked);
  // The chat scrolls itself to its bottom on every update; a long answer on a phone would
  // then start above the screen. Once an answer is final, bring its question to the top of
  // the screen: the answer follows it, from its first line.
  let finals = 0;
  new MutationObserver(() => {
    const answers = document.querySelectorAll('#qa-chat .qa-answer.qa-final');
    const arrived = answers.length > finals;
    finals = answers.length;
    if (!arrived || !qaStacked()) return;
    const questions = document.querySelectorAll('#qa-chat .qa-question');
    const latest = questions[questions.length - 1] || answers[answers.length - 1];
    setTimeout(() => latest.scrollIntoView({behavior: 'smooth', block: 'start'}), 100);
  }).observe(document.body, {childList: true, subtree: true});
}

const qaOnPanel = () => {
  qaMarkStacked();
  const doc = element.querySelector('.qa-doc');
  const mark = element.querySelector('.qa-doc-mark');
  if (doc && mark) doc.scrollTop = Math.max(0, mark.offsetTop - doc.clientHeight / 3);
  if (window.__qaPanelWanted) qaShowPanel();
  window.__qaPanelWanted = false;
};
watch('value', qaOnPanel);
qaOnPanel();
