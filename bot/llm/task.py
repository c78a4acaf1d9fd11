"""One LLM task, start to end: load its prompt, fit the paper text to the budget, complete,
record usage, and check what came back. Q&A, the query rewrite, summaries, the roundup and the
reading room's discussions all run through `run_task`.

Fitting: the caller gives a function that returns its untrusted texts (the values of the
prompt's data placeholders) cut to a number of tiktoken tokens in all; the budget is the window
minus the output budget minus the rest of the prompt, converted with the model's calibrated
ratio. The fitted request is counted again with the best count there is, and fitted again,
tighter or fuller, when it is off.

Recovering, each at most once:
- the server says the request is too long: fit again, smaller by what it reported, and retry;
- the answer is cut off by the length limit and `grow_output` is set: retry with twice the
  output budget (less room for text);
- `check` finds a problem in the answer (the wrong language): retry with a firmer instruction.
The result says what is still wrong (`cut_off`, `problem`), so no caller passes it off as whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.llm.client import Caller, Completion, LLMClient, TextCallback, Usage
from bot.llm.errors import ContextTooLong
from bot.llm.prompts import FENCE_MARKERS, Prompt, load_prompt

log = logging.getLogger(__name__)

FIT_ROUNDS = 3
FULL_ENOUGH = 0.9  # a fitted request this close to the budget is not refitted larger
OVERFLOW_SHRINK = 0.7  # when the server gave no figures
Fit = Callable[[int], dict[str, str]]  # tiktoken budget -> the data placeholders' values
Check = Callable[[str], str | None]  # answer -> what is wrong with it, or None


@dataclass
class TaskResult:
    prompt: Prompt
    completion: Completion
    problem: str | None = None  # what `check` still found wrong after the retry

    @property
    def text(self) -> str:
        return self.completion.text.strip()

    @property
    def cut_off(self) -> bool:
        return self.completion.cut_off


@dataclass
class _Request:
    """What run_task sends: its values, and how much room the fitted text may take."""

    prompt: Prompt
    values: dict[str, str]
    fit: Fit | None
    max_tokens: int
    shrink: float = 1.0

    def render(self, fitted: dict[str, str] | None, firm_language: bool = False) -> list[dict[str, str]]:
        return self.prompt.render(firm_language=firm_language, **self.values, **(fitted or {}))

    def render_without_data(self, firm_language: bool = False) -> list[dict[str, str]]:
        """The request with every data placeholder empty: what the instructions cost."""
        data = self.prompt.placeholders - FENCE_MARKERS - self.values.keys()
        return self.render(dict.fromkeys(data, ""), firm_language)


async def _fitted(llm: LLMClient, request: _Request, firm: bool) -> list[dict[str, str]]:
    """The request's messages with the data cut so that the whole request fits the prompt
    budget in model tokens, and fills it: a first guess from tiktoken and the model's ratio,
    then corrected (either way) by the best count there is, a few rounds at most. The messages
    returned are the ones counted (each rendering draws a new fence nonce)."""
    if request.fit is None:
        return request.render(None, firm)
    overhead = (await llm.count(request.render_without_data(firm))).tokens
    # after an overflow the server's count is known to exceed ours: aim lower by `shrink`
    room = max(llm.prompt_budget(request.max_tokens) - overhead, 0) * request.shrink
    allowed = overhead + room
    local_budget = int(room / await llm.tokens.scale())
    best, previous = None, None
    for _ in range(FIT_ROUNDS):
        fitted = request.fit(max(local_budget, 0))
        if fitted == previous:
            break  # all of the text fits, or the budget no longer changes the cut
        previous = fitted
        messages = request.render(fitted, firm)
        counted = (await llm.count(messages)).tokens
        if counted <= allowed:
            best = messages
            if counted >= allowed * FULL_ENOUGH:
                break
        local_budget = int(local_budget * room / max(counted - overhead, 1) * 0.97)
    # none fit by the count: the last, smaller cut (the client refuses it if it is still too long)
    return best if best is not None else request.render(request.fit(max(local_budget, 0)), firm)


async def _complete_fitted(
    llm: LLMClient, request: _Request, caller: Caller, on_text: TextCallback | None, firm: bool = False
) -> Completion:
    """Fit, complete; on the server's overflow, fit smaller once and complete again."""
    try:
        messages = await _fitted(llm, request, firm)
        return await llm.complete(messages, caller, max_tokens=request.max_tokens, on_text=on_text)
    except ContextTooLong as exc:
        if request.fit is None:
            raise  # nothing to cut
        over = (exc.prompt_tokens + request.max_tokens) / exc.window if exc.prompt_tokens and exc.window else None
        request.shrink *= min(OVERFLOW_SHRINK, 0.9 / over) if over else OVERFLOW_SHRINK
        log.warning(
            "%s: the request was refused as too long (%s prompt tokens, window %s); re-packing %.0f%% smaller",
            caller.feature, exc.prompt_tokens or "?", exc.window or "?", (1 - request.shrink) * 100,
        )
        messages = await _fitted(llm, request, firm)
        return await llm.complete(messages, caller, max_tokens=request.max_tokens, on_text=on_text)


async def run_task(
    llm: LLMClient,
    task: str,
    caller: Caller,
    usage: Usage,
    *,
    values: dict[str, str],
    fit: Fit | None = None,
    max_tokens: int | None = None,
    on_text: TextCallback | None = None,
    check: Check | None = None,
    grow_output: bool = False,
) -> TaskResult:
    """Run `task`'s prompt with `values`, and what `fit(budget)` returns for the rest."""
    prompt = load_prompt(task)
    request = _Request(prompt, values, fit, max_tokens or llm.settings.max_output_tokens)
    completion = await _complete_fitted(llm, request, caller, on_text)
    usage.add(completion)
    if completion.cut_off and grow_output:
        room = min(request.max_tokens * 2, llm.settings.context_window // 2)
        if room > request.max_tokens:
            log.info("%s: answer cut off at %d tokens; asking again with %d", caller.feature, request.max_tokens, room)
            request.max_tokens = room
            completion = await _complete_fitted(llm, request, caller, on_text)
            usage.add(completion)
    problem = check(completion.text) if check else None
    if problem:
        log.info("%s: %s; asking again with a firmer instruction", caller.feature, problem)
        completion = await _complete_fitted(llm, request, caller, on_text, firm=True)
        usage.add(completion)
        problem = check(completion.text)
    return TaskResult(prompt, completion, problem)
