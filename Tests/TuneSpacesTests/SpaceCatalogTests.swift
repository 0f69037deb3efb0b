import CPUKernels
import CUDAKernels
import Testing
import TuneCore
import TuneSpaces

@Suite struct SpaceCatalogMapping {
    let gemm = try! TaskSpec(op: .matmul, params: ["m": 64, "n": 64, "k": 64])

    func cuda() -> DeviceProfile {
        var p = DeviceProfile(deviceClass: .cuda, model: "NVIDIA H100 80GB HBM3")
        p.smCount = 132; p.maxThreadsPerBlock = 1024; p.sharedMemPerBlock = 48 * 1024
        p.sharedMemPerBlockOptin = 232_448; p.registersPerSM = 65536; p.registersPerBlock = 65536
        p.warpSize = 32; p.l2Bytes = 50 * 1024 * 1024; p.computeCapability = "9.0"
        return p
    }

    func cpu() -> DeviceProfile {
        var p = DeviceProfile(deviceClass: .cpu, model: "test")
        p.cores = 4; p.threads = 4; p.vectorBits = 256
        return p
    }

    @Test func aCPUDeviceGetsTheCPUKernelsSpaceForItsThreadCount() throws {
        let space = try #require(SpaceCatalog.space(for: gemm, device: cpu(), threads: 2))
        let direct = try #require(CPUKernels.space(for: gemm, device: cpu(), threads: 2))
        #expect(space.knobs == direct.knobs)
        #expect(!(space.knobs == CUDAKernels.space(for: gemm, device: cuda())?.knobs))
    }

    @Test func aCUDADeviceGetsTheCUDAKernelsSpace() throws {
        let space = try #require(SpaceCatalog.space(for: gemm, device: cuda(), threads: 8))
        #expect(space.knobs == CUDAKernels.space(for: gemm, device: cuda())?.knobs)
    }

    @Test func thePlanFormTakesThePlansThreads() throws {
        var plan = MeasurePlan()
        plan.threads = 3
        #expect(SpaceCatalog.space(for: gemm, device: cpu(), plan: plan)?.knobs
                == CPUKernels.space(for: gemm, device: cpu(), threads: 3)?.knobs)
    }
}
