"""Graph breaks of the training step under torch.compile, before and after pyrodisent.compiled.

For each built-in regularizer (and the built-in models), on the tiny model of PDisVAE's
synthetic runs (20-dim data, 6 latents, MLP width 64, batch 128):

- **before**: ``torch._dynamo.explain`` of ``DisentELBO.differentiable_loss`` on the Pyro
  model/guide, as ``torch.compile`` of the loss sees it: Pyro's handlers break the graph;
- **after**: ``torch._dynamo.explain`` of the program :class:`pyrodisent.compiled.CompiledStep`
  records from the same loss (what ``train.compile: step`` compiles), or the reason it falls
  back to the eager step.

    python benchmarks/graph_breaks.py            # one table, about a minute on a CPU
"""

from __future__ import annotations

import platform
import warnings

import pyro
import torch

from pyrodisent import DisentELBO, regularizer
from pyrodisent.compiled import CompileFallbackWarning, compile_step
from pyrodisent.models import VAE, DeVAE

N, BATCH = 2000, 128
REGULARIZERS = {
    "tc (mss)": [("tc", {"beta": 6.0, "estimator": "mss"})],
    "pc, groups [2, 2, 2]": [("pc", {"beta": 4.0, "groups": [2, 2, 2]})],
    "tc + pc": [("tc", {"beta": 5.0}), ("pc", {"beta": 4.0, "groups": [2, 2, 2]})],
    "grouped_tc": [("grouped_tc", {"beta": 4.0, "grouping_factor": 2})],
    "variance + tc": [("variance", {"beta": 10.0}), ("tc", {"beta": 6.0})],
    "discriminator": [("discriminator", {"gamma": 35.0, "hidden_units": 64})],
    "dip": [("dip", {})],
    "beta_vae": [("beta_vae", {"beta": 4.0})],
    "annealed_vae": [("annealed_vae", {"c_max": 25.0})],
}
MODELS = {
    "VAE, factorized guide": lambda: VAE((20,), 6, encoder="mlp", hidden_width=64, likelihood="gaussian"),
    "VAE, correlated guide (ρ = 0.9)": lambda: VAE((20,), 6, encoder="mlp", hidden_width=64, likelihood="gaussian",
                                                    guide="correlated", rho=0.9),
    "VAE, logcosh prior": lambda: VAE((20,), 6, encoder="mlp", hidden_width=64, likelihood="gaussian", prior="logcosh"),
    "VAE, L^p-nested prior": lambda: VAE((20,), 6, encoder="mlp", hidden_width=64, likelihood="gaussian",
                                         prior={"lp_nested": {"groups": [2, 2, 2]}}),
    "DeVAE": lambda: DeVAE((20,), 6, encoder="mlp", hidden_width=64, likelihood="gaussian", betas=[1.0, 10.0, 40.0]),
}


def _explain(fn, *args) -> tuple[int, int]:
    torch._dynamo.reset()
    out = torch._dynamo.explain(fn)(*args)
    return out.graph_count, out.graph_break_count


def measure(label: str, model, regs) -> tuple[str, str, str]:
    model.register_params = False
    elbo = DisentELBO([regularizer(name, **options) for name, options in regs])
    x = torch.randn(BATCH, 20)
    with torch.no_grad():  # build plugin networks, as the engine's first evaluation does
        elbo.differentiable_loss(model.model, model.guide, x, dataset_size=N)
    graphs, breaks = _explain(lambda x: elbo.differentiable_loss(model.model, model.guide, x, dataset_size=N), x)
    before = f"{graphs} graphs / {breaks} breaks"
    step = compile_step(model, elbo, torch.optim.Adam(model.parameters()), mode="replay", eager_first=False,
                        dataset_size=N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileFallbackWarning)
        for _ in range(6):  # DeVAE: until several of its layers have been drawn
            step(x)
    if step.fallback is not None:
        return label, before, "eager: " + step.fallback.split(" cannot be recorded")[0]
    program = step._last
    graphs, breaks = _explain(program.graph, program.params, program.buffers, x, program.step)
    more = f", {step.programs} programs: one per layer drawn" if step.programs > 1 else ""
    return label, before, f"{graphs} graph / {breaks} breaks ({len(program.graph.graph.nodes)} nodes{more})"


def main() -> None:
    torch.set_num_threads(1)
    pyro.enable_validation(False)
    print(f"torch {torch.__version__}, pyro {pyro.__version__}, {platform.machine()}; batch {BATCH}, D = 6")
    rows = []
    for label, regs in REGULARIZERS.items():
        torch.manual_seed(0)
        rows.append(measure(f"regularizer {label}", MODELS["VAE, factorized guide"](), regs))
    for label, build in MODELS.items():
        if label != "VAE, factorized guide":
            torch.manual_seed(0)
            rows.append(measure(f"model {label}", build(), REGULARIZERS["tc (mss)"] if "guide" in label else []))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"| {'step':<{widths[0]}} | {'torch.compile of the loss':<{widths[1]}} | compile: step |")
    print(f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}|---|")
    for row in rows:
        print(f"| {row[0]:<{widths[0]}} | {row[1]:<{widths[1]}} | {row[2]} |")


if __name__ == "__main__":
    main()
