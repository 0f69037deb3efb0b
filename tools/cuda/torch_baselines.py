#!/usr/bin/env python3
"""Vendor baselines for the GPU check: times every task of `bench --list` with PyTorch
(cuBLAS, cuDNN) in FP32 with TF32 off and cuDNN autotuning on.
Usage: torch_baselines.py TASKS.tsv > VENDOR.tsv   (name<TAB>graph_s<TAB>eager_s)

Small batch-1 kernels run for less time than PyTorch takes to launch them from Python, so
eager timing measures the host. The first column replays the calls from a CUDA graph (GPU
time only, like the driver-launched candidates); the eager figure is kept beside it."""
import sys

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True
dev = "cuda"


def timed(fn, min_seconds=0.01, repeats=5):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); fn(); e.record(); e.synchronize()
    once = max(s.elapsed_time(e) / 1e3, 1e-7)
    inner = max(1, int(min_seconds / once + 0.999))
    samples = []
    for _ in range(repeats):
        s.record()
        for _ in range(inner):
            fn()
        e.record(); e.synchronize()
        samples.append(s.elapsed_time(e) / 1e3 / inner)
    samples.sort()
    return samples[len(samples) // 2]


def graphed(fn, min_seconds=0.01, repeats=5):
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # cuDNN picks its algorithm here, outside the capture
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    once = timed(fn, min_seconds=0.002, repeats=1)
    inner = max(1, min(2000, int(min_seconds / once + 0.999)))
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(inner):
            fn()
    g.replay(); torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        s.record(); g.replay(); e.record(); e.synchronize()
        samples.append(s.elapsed_time(e) / 1e3 / inner)
    samples.sort()
    return samples[len(samples) // 2]


def make(name, op, p):
    r = lambda *shape: torch.rand(*shape, device=dev) * 2 - 1
    if op == "matmul":
        a, b = r(p["m"], p["k"]), r(p["k"], p["n"])
        bias = r(p["n"]) if p.get("bias") else None
        act = p.get("act", 0)
        def f():
            y = torch.addmm(bias, a, b) if bias is not None else torch.matmul(a, b)
            if act == 1: y = torch.relu(y)
            if act == 2: y = F.gelu(y)
            return y
        return f
    if op == "batch_matmul":
        a, b = r(p["b"], p["m"], p["k"]), r(p["b"], p["k"], p["n"])
        return lambda: torch.bmm(a, b)
    if op in ("conv2d", "depthwise_conv2d"):
        c, g = p["c"], (p["c"] if op == "depthwise_conv2d" else p["groups"])
        k = c if op == "depthwise_conv2d" else p["k"]
        x = r(p["n"], c, p["h"], p["w"])
        w = r(k, c // g, p["r"], p["s"])
        if p.get("layout") == 1:
            x = x.contiguous(memory_format=torch.channels_last)
            w = w.contiguous(memory_format=torch.channels_last)
        return lambda: F.conv2d(x, w, stride=p["stride"], padding=p["pad"], dilation=p["dil"], groups=g)
    if op == "softmax":
        x = r(p["rows"], p["cols"])
        return lambda: torch.softmax(x, dim=-1)
    if op == "elementwise":
        x, y = r(p["n"]), r(p["n"])
        ch = p["chain"]
        def f():
            t = x + y
            if ch >= 1: t = torch.relu(t)
            if ch >= 2: t = t * y
            if ch >= 3: t = t + x
            return t
        return f
    return None


print(f"# torch {torch.__version__} cudnn {torch.backends.cudnn.version()} {torch.cuda.get_device_name()}", file=sys.stderr)
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 3:
        continue
    name, op, params = parts
    p = {kv.split("=")[0]: int(kv.split("=")[1]) for kv in params.split(",") if kv}
    try:
        f = make(name, op, p)
        if f is not None:
            eager = timed(f)
            try:
                graph = graphed(f)
            except Exception as e:  # capture can fail; fall back to eager timing
                print(f"# {name}: graph capture failed: {e}", file=sys.stderr)
                graph = eager
            print(f"{name}\t{graph}\t{eager}", flush=True)
    except Exception as e:  # a baseline that fails is reported, not fatal
        print(f"# {name}: {e}", file=sys.stderr)
