# PyTorch side of bench/train-step.ts: the CQL-shaped step (twin critics 2x(256,256), tanh-Gaussian actor (256,256),
# target critics, CQL(H) logsumexp over 10 uniform + 10 policy actions per state, critic and actor Adam, Polyak),
# the same computation as the ORT graph in bench/train-step.ts (and as CORL/d3rlpy write it: two critic modules).
# Usage: OMP_NUM_THREADS=T /usr/bin/python3 bench/torch/cql_step.py THREADS SECONDS  -> one JSON line
import json, math, os, sys, time
import torch
from torch import nn

threads, seconds = int(sys.argv[1]), float(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(7)
B, OBS, ACT, N = 256, 17, 6, 10


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


critics = nn.ModuleList([mlp([OBS + ACT, 256, 256, 1]) for _ in range(2)])
targets = nn.ModuleList([mlp([OBS + ACT, 256, 256, 1]) for _ in range(2)])
targets.load_state_dict(critics.state_dict())
actor = mlp([OBS, 256, 256, 2 * ACT])
critic_opt = torch.optim.Adam(critics.parameters(), lr=3e-4)
actor_opt = torch.optim.Adam(actor.parameters(), lr=1e-4)


def policy(obs, noise):
    out = actor(obs)
    mean, log_std = out[:, :ACT], out[:, ACT:].clamp(-20, 2)
    pre = mean + log_std.exp() * noise
    action = torch.tanh(pre)
    log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_prob = log_prob - (2 * (math.log(2) - pre - nn.functional.softplus(-2 * pre))).sum(-1)
    return action, log_prob


def q(nets, obs, act):
    x = torch.cat([obs, act], 1)
    return torch.stack([net(x).squeeze(-1) for net in nets])  # [2, rows]


def batch():
    return dict(
        obs=torch.randn(B, OBS), act=torch.rand(B, ACT) * 2 - 1, reward=torch.randn(B), done=torch.zeros(B),
        next_obs=torch.randn(B, OBS), noise_next=torch.randn(B, ACT), noise_pi=torch.randn(B, ACT),
        noise_sampled=torch.randn(N * B, ACT), random_actions=torch.rand(N * B, ACT) * 2 - 1,
    )


data = [batch() for _ in range(4)]


def step(i):
    d = data[i % 4]
    with torch.no_grad():
        next_action, next_log_prob = policy(d["next_obs"], d["noise_next"])
        next_v = q(targets, d["next_obs"], next_action).min(0).values - 0.2 * next_log_prob
        y = d["reward"] + 0.99 * (1 - d["done"]) * next_v
        tiled = d["obs"].unsqueeze(0).expand(N, B, OBS).reshape(N * B, OBS)
        sampled_action, sampled_log_prob = policy(tiled, d["noise_sampled"])
    q_data = q(critics, d["obs"], d["act"])
    td = (q_data - y).pow(2).mean()
    q_rand = q(critics, tiled, d["random_actions"]).reshape(2, N, B) - ACT * math.log(0.5)
    q_pi = q(critics, tiled, sampled_action).reshape(2, N, B) - sampled_log_prob.reshape(1, N, B)
    cql = (torch.logsumexp(torch.cat([q_rand, q_pi], 1), 1) - q_data).mean()
    critic_loss = td + 5 * cql
    critic_opt.zero_grad(set_to_none=True)
    critic_loss.backward()
    critic_opt.step()
    # The actor's loss differentiates only the actor (as the ORT graph does): no critic parameter gradients.
    critics.requires_grad_(False)
    pi_action, pi_log_prob = policy(d["obs"], d["noise_pi"])
    actor_loss = (0.2 * pi_log_prob - q(critics, d["obs"], pi_action).min(0).values).mean()
    actor_opt.zero_grad(set_to_none=True)
    actor_loss.backward()
    critics.requires_grad_(True)
    actor_opt.step()
    with torch.no_grad():
        for t, s in zip(targets.parameters(), critics.parameters()):
            t.mul_(0.995).add_(s, alpha=0.005)


for i in range(3):
    step(i)
cpu0, t0, n = time.process_time(), time.perf_counter(), 0
while time.perf_counter() - t0 < seconds:
    step(n)
    n += 1
wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
# Debian builds torch against the libblas.so.3 alternative: OpenBLAS (libopenblas0-pthread) or the slow reference BLAS.
blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
print(json.dumps({"torch": torch.__version__, "blas": blas, "threads": torch.get_num_threads(), "stepsPerSec": n / wall, "stepsPerCpuSec": n / cpu}))
