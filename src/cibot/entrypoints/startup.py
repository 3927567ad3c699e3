"""The cyclic garbage collector around `cibot serve`'s start-up: paused while the service is
imported and built, then the start-up's objects frozen and collection resumed, before it serves.

Why pause: start-up is mostly imports (some 1,300 modules), which create a few hundred
thousand objects that live as long as the process: modules, classes, functions, their
dicts. The collector runs each time allocations outnumber deallocations by 700 and, now and
then, walks every object made so far, to find almost nothing to free: about an eighth of the
time to the first answer (bench/coldstart.py). Reference counting still frees whatever is not
in a cycle meanwhile, so the pause only holds back cyclic garbage, which importing hardly
makes.

Why freeze: `gc.freeze()` moves every object that exists to a generation the collector never
walks again, so the full collections of the server that runs for days walk only what it made
while serving, and pause it for less. The freeze is not preceded by a collection: that full
collection would cost a tenth of a second, to free the few thousand objects (about half a
megabyte) of cyclic garbage the imports leave, which are frozen with the rest. So is any
object made during start-up that ends in a cycle later (the first Socket Mode connection's,
once replaced): reference counting frees the rest, and start-up bounds what is kept.

Only `serve` pauses (at the top of its command, in cli.py): it is the one command whose start
someone waits for (a rolling update, a probe) and the one that lives long enough for the
freeze to pay. The one-shot commands keep the collector as Python starts it.
"""

from __future__ import annotations

import gc


def pause_collection() -> None:
    """Stop automatic collection until `resume_collection` (reference counting goes on)."""
    gc.disable()


def resume_collection() -> None:
    """Freeze every object that exists now (they live as long as the process) and turn
    automatic collection back on, for what is made from now on."""
    gc.freeze()
    gc.enable()
