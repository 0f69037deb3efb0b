import KernelReference
import Testing
import TuneCore

let tinyTasks: [String] = [
    "matmul(m=5,n=7,k=9,bias=0,act=0,f32)",
    "matmul(m=4,n=6,k=33,bias=1,act=1,f32)",
    "matmul(m=3,n=8,k=17,bias=1,act=2,f32)",
    "matmul(m=1,n=13,k=40,bias=1,act=2,f32)", "matmul(m=6,n=1,k=21,bias=1,act=0,f32)",
    "batch_matmul(b=2,m=3,n=5,k=7,f32)",
    "conv2d(n=2,c=4,h=7,w=6,k=6,r=3,s=2,stride=2,pad=1,dil=1,groups=2,layout=0,f32)",
    "conv2d(n=1,c=6,h=8,w=7,k=4,r=3,s=3,stride=1,pad=2,dil=2,groups=2,layout=1,f32)",
    "conv2d(n=1,c=3,h=5,w=5,k=2,r=1,s=1,stride=1,pad=0,dil=1,groups=1,layout=1,f32)",
    "depthwise_conv2d(n=1,c=5,h=6,w=7,r=3,s=3,stride=1,pad=1,dil=1,layout=0,f32)",
    "depthwise_conv2d(n=2,c=3,h=7,w=6,r=3,s=3,stride=2,pad=1,dil=1,layout=1,f32)",
    "softmax(rows=3,cols=10,f32)",
    "elementwise(n=20,chain=0,f32)", "elementwise(n=20,chain=1,f32)",
    "elementwise(n=20,chain=2,f32)", "elementwise(n=20,chain=3,f32)",
]

func referenceBuffers(_ name: String) throws -> (TaskSpec, TensorBuffers) {
    let task = try TaskSpec(name: name)
    let b = TensorBuffers(task: task)
    b.fillInputs()
    b.poisonOutputs()
    Reference.compute(b)
    return (task, b)
}

@Suite struct ReferenceTests {
    @Test(arguments: tinyTasks)
    func referenceMatchesNaiveLoops(name: String) throws {
        let (task, b) = try referenceBuffers(name)
        let naive = Naive.output(task, b).map { Float($0) }
        let out = b.outputIndices[0]
        let failure = naive.withUnsafeBufferPointer {
            Verifier(task: task).check(output: UnsafeBufferPointer(b.buffer(out)), expected: $0)
        }
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test(arguments: tinyTasks)
    func vendorAgreesWithTheReference(name: String) throws {
        let (task, ref) = try referenceBuffers(name)
        guard let vendor = VendorKernel.make(task: task, threads: 1) else {
            #expect(task.op == .softmax || task.op == .elementwise)
            return
        }
        #expect(vendor.name == "openblas")
        let gemv = task.op == .matmul && (task["m"] == 1 || task["n"] == 1)
        #expect(vendor.routine == (gemv ? "sgemv" : [.conv2d, .depthwiseConv2d].contains(task.op) ? "im2col+sgemm" : "sgemm"))
        let b = TensorBuffers(task: task)
        b.copyInputs(from: ref)
        b.poisonOutputs()
        #expect(vendor.run(b.args) == 0)
        let failure = Verifier(task: task).check(b, against: ref)
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test func inputsAreDeterministicAndInRange() throws {
        let task = try TaskSpec(name: "matmul(m=16,n=16,k=16,bias=1,act=0,f32)")
        let a = TensorBuffers(task: task), b = TensorBuffers(task: task)
        a.fillInputs(); b.fillInputs()
        for i in a.inputIndices {
            #expect(Array(a.buffer(i)) == Array(b.buffer(i)))
            #expect(a.buffer(i).allSatisfy { $0 >= -1 && $0 < 1 })
        }
        #expect(Array(a.buffer(0)) != Array(a.buffer(1)), "tensors get different data")
        for i in a.inputIndices { #expect(Int(bitPattern: a.args[i]) % 64 == 0) }
    }
}

@Suite struct VerifierTests {
    let task = try! TaskSpec(name: "matmul(m=8,n=8,k=64,bias=0,act=0,f32)")

    func verdict(_ edit: (UnsafeMutableBufferPointer<Float>) -> Void) throws -> String? {
        let (_, ref) = try referenceBuffers(task.name)
        let b = TensorBuffers(task: task)
        b.copyInputs(from: ref)
        _ = b.buffer(2).update(fromContentsOf: ref.buffer(2))
        edit(b.buffer(2))
        return Verifier(task: task).check(b, against: ref)
    }

    @Test func acceptsTheReferenceAndRoundingNoise() throws {
        #expect(try verdict { _ in } == nil)
        #expect(try verdict { $0[3] = $0[3].nextUp.nextUp } == nil)
    }

    @Test func reportsPoisonLeftBehind() throws {
        let m = try #require(try verdict { $0[5] = Poison.value; $0[9] = Poison.value })
        #expect(m.contains("2 of 64"))
        #expect(m.contains("poison left"))
        #expect(m.contains("first at [5]"))
    }

    @Test func reportsWrongValuesWithTheFirstBadIndex() throws {
        let m = try #require(try verdict { $0[17] += 0.01 })
        #expect(m.contains("first at [17]"))
        #expect(m.contains("max abs err"))
        #expect(m.contains("tolerance"))
    }

    @Test func reportsComputedNaN() throws {
        let m = try #require(try verdict { $0[0] = .nan })
        #expect(!m.contains("poison left"))
        #expect(m.contains("got nan"))
    }

    @Test func toleranceGrowsWithReductionLength() throws {
        let short = Verifier(task: try TaskSpec(name: "matmul(m=1,n=1,k=4,bias=0,act=0,f32)")).tolerance
        let long = Verifier(task: try TaskSpec(name: "matmul(m=1,n=1,k=400,bias=0,act=0,f32)")).tolerance
        #expect(abs(long / short - 10) < 1e-9)
    }
}

@Suite struct Placement {
    /// Every tensor sits at the same place relative to a 2 MiB boundary in every process
    /// (so the cache sets it maps to do not depend on the allocator's history), and no two
    /// tensors of a task start at the same offset.
    @Test func tensorsSitAtFixedDistinctOffsetsFromA2MiBBoundary() throws {
        let task = try TaskSpec(name: "matmul(m=128,n=768,k=768,bias=1,act=0,f32)")
        let noise = (0..<7).map { PlacedMemory(bytes: 1000 * ($0 + 1), offset: $0 * 64) }
        let a = TensorBuffers(task: task), b = TensorBuffers(task: task)
        func offsets(_ t: TensorBuffers) -> [Int] {
            t.tensors.indices.map { Int(UInt(bitPattern: t.args[$0]) % UInt(PlacedMemory.hugePage)) }
        }
        #expect(offsets(a) == offsets(b))
        #expect(offsets(a) == a.tensors.indices.map(PlacedMemory.stagger))
        #expect(Set(offsets(a)).count == a.tensors.count)
        #expect(offsets(a).allSatisfy { $0 % 64 == 0 })
        a.fillInputs(); b.fillInputs()
        for i in a.inputIndices { #expect(Array(a.buffer(i)) == Array(b.buffer(i))) }
        _ = noise
    }
}

@Suite struct VendorLibraryTests {
    /// Every vendor routine (OpenBLAS where it has one, oneDNN for every operator) computes
    /// the task right on poisoned outputs, through the same prepare / run / finish calls the
    /// agent verifies and times; a second timed run leaves the same answer.
    @Test(arguments: tinyTasks) func everyLibraryMatchesTheReference(name: String) throws {
        let (task, ref) = try referenceBuffers(name)
        let (routines, _) = VendorLibraries.routines(task: task, threads: 1)
        #expect(routines.contains { $0.library == "onednn" }, "oneDNN has every operator")
        if task.op == .matmul || task.op == .batchMatmul {
            #expect(routines.contains { $0.library == "blis" }, "BLIS has the GEMM-shaped tasks")
        }
        for v in routines {
            let got = TensorBuffers(task: task)
            got.fillInputs()
            got.poisonOutputs()
            #expect(v.prepare(got.args) == 0 && v.run(got.args) == 0 && v.run(got.args) == 0 && v.finish(got.args) == 0)
            let failure = Verifier(task: task).check(got, against: ref)
            #expect(failure == nil, "\(v.library) (\(v.routine)): \(failure ?? "")")
        }
    }
}
