import Foundation
import Testing
import TuneCore
@testable import TuneCoordinator
import TuneSpaces

/// A campaign over cpu and cuda: both device classes get a space and show on the dashboard.
@Suite struct MixedDeviceCampaigns {
    @Test func cudaJobsSampleFromTheCUDASpace() throws {
        var gpu = DeviceProfile(deviceClass: .cuda, model: "NVIDIA H100 80GB HBM3")
        gpu.computeCapability = "9.0"
        gpu.maxThreadsPerBlock = 1024
        gpu.sharedMemPerBlock = 48 * 1024
        gpu.sharedMemPerBlockOptin = 232_448
        gpu.registersPerBlock = 65536
        gpu.smCount = 132
        let t = try TaskSpec(op: .matmul, params: ["m": 1024, "n": 1024, "k": 1024])
        let space = try #require(SpaceCatalog.space(for: t, device: gpu, plan: MeasurePlan()))
        // CUDA GEMM knobs (block tiles), not the CPU's.
        #expect(space.knobs.contains { $0.name == "bm" })
        var rng = SplitMix64(seed: 1)
        let s = try #require(space.sample(using: &rng))
        #expect(space.isValid(s))
        let cpu = DeviceProfile(deviceClass: .cpu, model: "cpu")
        #expect(SpaceCatalog.space(for: t, device: cpu, plan: MeasurePlan()) != nil)
    }
}
