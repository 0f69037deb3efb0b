import Foundation
import Testing
import TuneCore
@testable import TuneCoordinator

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
        let space = try #require(SpaceCatalog.space(for: t, profile: gpu, plan: MeasurePlan()))
        // CUDA GEMM knobs (block tiles), not the CPU's.
        #expect(space.knobs.contains { $0.name == "bm" })
        var rng = SplitMix64(seed: 1)
        let s = try #require(space.sample(using: &rng))
        #expect(space.isValid(s))
        let cpu = DeviceProfile(deviceClass: .cpu, model: "cpu")
        #expect(SpaceCatalog.space(for: t, profile: cpu, plan: MeasurePlan()) != nil)
    }

    @Test func dashboardShowsBothDeviceClasses() throws {
        let name = "matmul(m=1024,n=1024,k=1024,bias=0,act=0,f32)"
        // The status as coordctl receives it (`status --json` shape).
        let json = """
        {"agents": [
          {"name": "node-cpu", "device_class": "cpu", "state": "idle", "device": "Xeon", "slots": 1, "busy_slots": 0},
          {"name": "node-cuda0", "device_class": "cuda", "state": "busy", "device": "NVIDIA H100", "slots": 1, "busy_slots": 1}],
         "campaigns": [{"id": 1, "workload": "w", "state": "running", "trials_done": 3, "trials_total": 4, "tasks": [
          {"name": "\(name)", "device_class": "cpu", "weight": 1, "trials_done": 2, "trials_total": 2, "failures": 0,
           "best_seconds": 0.01, "vendor_seconds": 0.012, "best_gflops": 214},
          {"name": "\(name)", "device_class": "cuda", "weight": 1, "trials_done": 1, "trials_total": 2, "failures": 0,
           "best_seconds": 0.0001, "best_gflops": 21474}]}],
         "results_per_second": 1, "results_total": 3}
        """
        let s = try JSONDecoder().decode(StatusJSON.self, from: Data(json.utf8))
        let text = Dashboard.render(s)
        #expect(text.contains("node-cuda0") && text.contains("NVIDIA H100"))
        let taskLines = text.split(separator: "\n").filter { $0.contains(name) }
        #expect(taskLines.count == 2)
        #expect(taskLines.contains { $0.contains(" cpu ") } && taskLines.contains { $0.contains(" cuda ") })
    }
}
