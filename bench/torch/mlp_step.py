# PyTorch side of bench/train-step.ts: the reference workload (MLP 17-256-256-6 ReLU, batch 256, MSE, Adam),
# following the engine experiment's torch_mlp_bench.py. Benchmarks only; Hindcast never depends on Python.
# Usage: OMP_NUM_THREADS=T /usr/bin/python3 bench/torch/mlp_step.py THREADS SECONDS  -> one JSON line
import json, os, sys, time
import torch

threads, seconds = int(sys.argv[1]), float(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(42)
IN, HID, OUT, B = 17, 256, 6, 256
xs = [torch.rand(B, IN) * 2 - 1 for _ in range(16)]
ys = [torch.rand(B, OUT) * 2 - 1 for _ in range(16)]
net = torch.nn.Sequential(torch.nn.Linear(IN, HID), torch.nn.ReLU(), torch.nn.Linear(HID, HID), torch.nn.ReLU(), torch.nn.Linear(HID, OUT))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)


def step(i):
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(net(xs[i % 16]), ys[i % 16])
    loss.backward()
    opt.step()
    return loss


for i in range(30):
    step(i)
cpu0, t0, n = time.process_time(), time.perf_counter(), 0
while time.perf_counter() - t0 < seconds:
    step(n)
    n += 1
wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
# Debian builds torch against the libblas.so.3 alternative: OpenBLAS (libopenblas0-pthread) or the slow reference BLAS.
blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
print(json.dumps({"torch": torch.__version__, "blas": blas, "threads": torch.get_num_threads(), "stepsPerSec": n / wall, "stepsPerCpuSec": n / cpu}))
