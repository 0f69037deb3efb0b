import KernelReference
import Testing
import TuneCore
@testable import CPUKernels

/// Small shapes that still hit every edge path: sizes that no tile divides, groups,
/// strides, dilation, both layouts, pointwise convolutions (GEMM path).
let smallTasks: [String] = [
    "matmul(m=37,n=53,k=29,bias=0,act=0,f32)",
    "matmul(m=64,n=96,k=130,bias=1,act=1,f32)",
    "matmul(m=1,n=70,k=40,bias=1,act=2,f32)",
    "batch_matmul(b=3,m=17,n=40,k=24,f32)",
    "conv2d(n=1,c=8,h=11,w=13,k=12,r=3,s=3,stride=1,pad=1,dil=1,groups=1,layout=0,f32)",
    "conv2d(n=2,c=8,h=12,w=9,k=12,r=3,s=3,stride=2,pad=2,dil=2,groups=2,layout=1,f32)",
    "conv2d(n=1,c=6,h=9,w=9,k=10,r=5,s=3,stride=2,pad=1,dil=1,groups=1,layout=0,f32)",
    "conv2d(n=2,c=16,h=7,w=7,k=24,r=1,s=1,stride=1,pad=0,dil=1,groups=1,layout=0,f32)",
    "conv2d(n=1,c=16,h=7,w=5,k=20,r=1,s=1,stride=1,pad=0,dil=1,groups=1,layout=1,f32)",
    "depthwise_conv2d(n=1,c=19,h=13,w=11,r=3,s=3,stride=1,pad=1,dil=1,layout=0,f32)",
    "depthwise_conv2d(n=2,c=21,h=10,w=10,r=3,s=3,stride=2,pad=1,dil=1,layout=1,f32)",
    "depthwise_conv2d(n=1,c=8,h=9,w=9,r=5,s=5,stride=2,pad=2,dil=1,layout=0,f32)",
    "softmax(rows=9,cols=77,f32)",
    "elementwise(n=1001,chain=0,f32)",
    "elementwise(n=333,chain=1,f32)",
    "elementwise(n=517,chain=2,f32)",
    "elementwise(n=100,chain=3,f32)",
]

/// NCHW shapes for the packed-weight path (`axis=1`): output channels that no vector tile
/// divides, pixel planes that no row tile divides, channel slices with remainders, groups,
/// stride 2, dilation, a batch.
let packedConvTasks: [String] = [
    "conv2d(n=1,c=8,h=7,w=7,k=20,r=3,s=3,stride=1,pad=1,dil=1,groups=1,layout=0,f32)",
    "conv2d(n=2,c=12,h=9,w=11,k=24,r=3,s=3,stride=2,pad=2,dil=2,groups=2,layout=0,f32)",
    "conv2d(n=1,c=6,h=9,w=9,k=10,r=5,s=3,stride=2,pad=1,dil=1,groups=1,layout=0,f32)",
    "conv2d(n=1,c=35,h=6,w=5,k=33,r=3,s=3,stride=1,pad=0,dil=1,groups=1,layout=0,f32)",
    "conv2d(n=1,c=16,h=5,w=4,k=48,r=2,s=2,stride=1,pad=1,dil=2,groups=4,layout=0,f32)",
]

/// Generates, compiles, runs (on poisoned outputs) and verifies one schedule; nil if right.
func runAndVerify(_ task: TaskSpec, _ schedule: Schedule, options: CodegenOptions = CodegenOptions()) throws -> String? {
    let kernel = try CPUKernels.generate(task: task, schedule: schedule, device: HostDevice.profile, threads: 2, options: options)
    let lib = try CompiledKernel(kernel)
    let expected = TensorBuffers(task: task)
    expected.fillInputs()
    Reference.compute(expected)
    let got = TensorBuffers(task: task)
    got.copyInputs(from: expected)
    got.poisonOutputs()
    // Run twice: static work buffers must not leak state between calls.
    for _ in 0..<2 {
        let rc = lib.run(got.args)
        if rc != 0 { return "returned \(rc)" }
    }
    return Verifier(task: task).check(got, against: expected)
}

/// Serialized: each case compiles with cc and runs OpenMP kernels on a shared machine.
@Suite(.serialized) struct GeneratedKernelsTests {
    @Test(arguments: smallTasks)
    func randomSchedulesMatchTheReference(name: String) throws {
        let task = try TaskSpec(name: name)
        let space = try #require(CPUKernels.space(for: task, device: HostDevice.profile, threads: 2))
        var rng = SplitMix64(seed: FNV1a.hash(name))
        let count = task.op == .matmul || task.op == .conv2d ? 12 : 8
        for _ in 0..<count {
            let s = try #require(space.sample(using: &rng))
            let failure = try runAndVerify(task, s)
            #expect(failure == nil, "\(name) \(s.encoding): \(failure ?? "")")
        }
    }

    @Test(arguments: packedConvTasks)
    func randomPackedConvSchedulesMatchTheReference(name: String) throws {
        let task = try TaskSpec(name: name)
        let space = try #require(CPUKernels.space(for: task, device: HostDevice.profile, threads: 2))
        var rng = SplitMix64(seed: FNV1a.hash(name))
        var tested = 0
        for _ in 0..<2_000 where tested < 10 {
            let s = try #require(space.sample(using: &rng))
            guard s["axis"] == 1 else { continue }
            tested += 1
            let failure = try runAndVerify(task, s)
            #expect(failure == nil, "\(name) \(s.encoding): \(failure ?? "")")
        }
        #expect(tested == 10, "\(name): only \(tested) packed-weight schedules drawn")
    }

    /// Row tiles that divide the output width: no padded copy, edge variants that skip the
    /// padding's taps (`ConvTaps`), on one and two threads. (The 5-wide output of the third
    /// task has no such tile in the space.)
    @Test(arguments: packedConvTasks)
    func rowAlignedPackedConvSchedulesMatchTheReference(name: String) throws {
        let task = try TaskSpec(name: name)
        let space = try #require(CPUKernels.space(for: task, device: HostDevice.profile, threads: 2))
        let lanes = HostDevice.profile.vectorLanes
        var tested = 0
        for rb in [2, 3, 4, 6, 7, 8, 12] where task.outputWidth % rb == 0 {
            for (threads, par) in [(1, 0), (2, 1)] {
                let tiles = [lanes / 2, lanes].flatMap { vec in (1...4).map { rv in
                    Schedule(["axis": 1, "cb": 4, "order": 0, "par": par, "rb": rb, "rv": rv, "threads": threads, "unroll": 2, "vec": vec])
                } }
                guard let s = tiles.first(where: { space.constraintViolation($0) == nil }) else { continue }
                #expect(ConvTaps(task: task, rb: rb).rowAligned)
                let failure = try runAndVerify(task, s)
                #expect(failure == nil, "\(name) \(s.encoding): \(failure ?? "")")
                tested += 1
            }
        }
        #expect(tested > 0 || task.outputWidth == 5, "\(name): no row tile divides the output width")
    }

    /// NCHW depthwise planes wide and tall enough for interior tiles, which read the caller's
    /// input, beside edge tiles, which read the partly copied padded plane: strides,
    /// dilation, 5x5, no padding, a batch.
    @Test(arguments: [
        "depthwise_conv2d(n=1,c=3,h=40,w=70,r=3,s=3,stride=1,pad=1,dil=1,layout=0,f32)",
        "depthwise_conv2d(n=2,c=2,h=37,w=75,r=5,s=5,stride=2,pad=2,dil=1,layout=0,f32)",
        "depthwise_conv2d(n=1,c=2,h=33,w=66,r=3,s=3,stride=1,pad=2,dil=2,layout=0,f32)",
        "depthwise_conv2d(n=1,c=2,h=30,w=64,r=3,s=3,stride=1,pad=0,dil=1,layout=0,f32)",
    ])
    func depthwiseInteriorTilesMatchTheReference(name: String) throws {
        let task = try TaskSpec(name: name)
        let space = try #require(CPUKernels.space(for: task, device: HostDevice.profile, threads: 2))
        var rng = SplitMix64(seed: FNV1a.hash(name))
        var interior = 0
        for _ in 0..<10 {
            let s = try #require(space.sample(using: &rng))
            let tv = try #require(s["rv"]) * (try #require(s["vec"]))
            if !DepthwiseInterior(task: task, rb: try #require(s["rb"]), tv: tv, planeHeight: 0, planeWidth: 0).columns.isEmpty { interior += 1 }
            let failure = try runAndVerify(task, s)
            #expect(failure == nil, "\(name) \(s.encoding): \(failure ?? "")")
        }
        #expect(interior > 0, "\(name): no schedule drawn has interior tiles")
    }

    @Test func tunedPackedConvPointsMatchTheReference() throws {
        // The points the bench found fastest on 7x7x512 and 14x14x256, on a shape with
        // channel, pixel and slice remainders.
        let task = try TaskSpec(name: "conv2d(n=1,c=140,h=7,w=7,k=72,r=3,s=3,stride=1,pad=1,dil=1,groups=1,layout=0,f32)")
        for enc in ["axis=1;cb=64;order=0;par=0;rb=6;rv=4;threads=1;unroll=4;vec=16",
                    "axis=1;cb=4;order=0;par=0;rb=6;rv=2;threads=1;unroll=2;vec=16",
                    "axis=1;cb=128;order=1;par=0;rb=6;rv=4;threads=2;unroll=1;vec=16",
                    "axis=1;cb=16;order=0;par=1;rb=6;rv=4;threads=2;unroll=4;vec=16"] {
            var s = try Schedule(encoding: enc)
            if HostDevice.profile.vectorLanes < 16 { s = Schedule(s.values.merging(["vec": 8, "rb": 4, "rv": 2]) { $1 }) }
            let failure = try runAndVerify(task, s)
            #expect(failure == nil, "\(s.encoding): \(failure ?? "")")
        }
    }

    @Test func tunedMatmulPointsMatchTheReference() throws {
        // The points the speed check found fastest, on a shape with edges in every loop.
        let task = try TaskSpec(name: "matmul(m=150,n=200,k=300,bias=1,act=2,f32)")
        for enc in ["mr=6;nr=64;vec=16;mc=96;nc=256;kc=128;packA=1;packB=1;order=0;kunroll=4;threads=1;par=0",
                    "mr=14;nr=32;vec=16;mc=144;nc=256;kc=256;packA=1;packB=1;order=2;kunroll=4;threads=2;par=1",
                    "mr=8;nr=48;vec=16;mc=48;nc=256;kc=64;packA=0;packB=0;order=1;kunroll=2;threads=2;par=0"] {
            var s = try Schedule(encoding: enc)
            if HostDevice.profile.vectorLanes < 16 { s = Schedule(s.values.merging(["vec": 8, "mr": 4, "nr": 16]) { $1 }) }
            let failure = try runAndVerify(task, s)
            #expect(failure == nil, "\(s.encoding): \(failure ?? "")")
        }
    }
}
