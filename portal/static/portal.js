// htmx swaps no answer with a 4xx status, so a form sent with htmx that the server refused
// (its answer: the form again, the refusal beside its fields) changed nothing on screen and
// the person took the change for saved. A form marked data-answers-refusals shows that
// answer; any other 4xx answer is still not swapped.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  const refused = status === 400 || status === 409 || status === 422;
  // The event comes from the swap's target; the mark is on the form that sent the request.
  const sender = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (refused && sender && sender.closest("[data-answers-refusals]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
