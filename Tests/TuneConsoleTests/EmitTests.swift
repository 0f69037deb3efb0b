import Testing
import TuneCore
import TuneStore
@testable import TuneConsole

@Suite struct KernelEmission {
    let matmul = "matmul(m=64,n=64,k=64,bias=0,act=0,f32)"

    func row(_ task: String, _ cls: String, _ schedule: String, _ median: Double?, status: String = "ok",
             device: String = "gpu0") -> ExportRow {
        ExportRow(campaign: 1, task: task, deviceClass: cls, candidate: 1, schedule: schedule, device: device, agent: "a",
                  status: status, medianSeconds: median, samples: median.map { [$0] } ?? [], compileSeconds: 0.1, error: "")
    }

    func h100() -> DeviceProfile {
        var p = DeviceProfile(deviceClass: .cuda, model: "NVIDIA H100 80GB HBM3")
        p.computeCapability = "9.0"; p.smCount = 132; p.maxThreadsPerBlock = 1024
        p.sharedMemPerBlock = 49152; p.sharedMemPerBlockOptin = 232448; p.registersPerBlock = 65536
        return p
    }

    @Test func theFastestVerifiedRecordOfEachTaskAndDeviceClassIsChosen() {
        let rows = [
            row(matmul, "cuda", "a=1", 3e-6), row(matmul, "cuda", "a=2", 2e-6), row(matmul, "cuda", "a=3", 1e-6, status: "wrong_answer"),
            row(matmul, "cpu", "b=1", 9e-4), row(matmul, "cuda", "a=4", nil, status: "compile_error"),
        ]
        let best = KernelEmitter.best(rows)
        #expect(best.map(\.schedule) == ["a=2", "b=1"])
    }

    @Test func aChosenScheduleIsEmittedOnlyWhenAVerifiedRecordOfItExists() throws {
        let rows = [
            row(matmul, "cpu", "mr=4;nr=16", 9e-4, device: "d1"), row(matmul, "cpu", "nr=16;mr=4", 8e-4, device: "d1"),
            row(matmul, "cpu", "mr=4;nr=16", 7e-4, device: "d2"), row(matmul, "cpu", "mr=8;nr=16", 1e-4, status: "wrong_answer", device: "d1"),
        ]
        // Knob order does not matter; the fastest verified record of the schedule on that device.
        let c = try KernelEmitter.chosen(rows, task: matmul, schedule: "nr=16;mr=4", device: "d1")
        #expect(c.medianSeconds == 8e-4 && c.device == "d1" && c.deviceClass == "cpu")
        // Two devices measured it: which one must be said.
        #expect { _ = try KernelEmitter.chosen(rows, task: matmul, schedule: "mr=4;nr=16", device: nil) } throws: { e in
            (e as? KernelEmitter.EmitError)?.description.contains("d1, d2") == true
        }
        // A schedule that only failed verification, or a task never measured, is not emitted.
        #expect(throws: KernelEmitter.EmitError.self) { _ = try KernelEmitter.chosen(rows, task: matmul, schedule: "mr=8;nr=16", device: nil) }
        #expect(throws: KernelEmitter.EmitError.self) {
            _ = try KernelEmitter.chosen(rows, task: "matmul(m=32,n=64,k=64,bias=0,act=0,f32)", schedule: "mr=4;nr=16", device: nil)
        }
        #expect(throws: KernelEmitter.EmitError.self) { _ = try KernelEmitter.chosen(rows, task: "matmul(", schedule: "mr=4", device: nil) }
    }

    @Test func aCUDAFileSaysHowToLaunchIt() throws {
        let s = "bk=8;bm=32;bn=32;db=1;pad=4;splitk=2;swz=1;tm=4;tn=4;va=4;vb=4;wk=1;wx=4"
        let c = try #require(KernelEmitter.best([row(matmul, "cuda", s, 5e-6)]).first)
        let f = try KernelEmitter.file(for: c, profile: h100())
        #expect(f.name == "matmul_m_64_n_64_k_64_bias_0_act_0_f32.cuda.cu")
        #expect(f.text.contains("// schedule: \(s)"))
        #expect(f.text.contains("nvcc -cubin -arch=sm_90"))
        // Split-K: an init launch, then the GEMM, each with its grid and block.
        let launches = f.text.split(separator: "\n").filter { $0.hasPrefix("//   tf_gemm_") }
        #expect(launches.count == 2 && launches[0].contains("_init grid("))
        #expect(f.text.contains("extern \"C\" __global__"))
    }

    @Test func aRecordWhoseDeviceIsUnknownIsAnErrorNotACrash() throws {
        let c = try #require(KernelEmitter.best([row(matmul, "cuda", "bm=32", 1e-6)]).first)
        #expect(throws: KernelEmitter.EmitError.self) { _ = try KernelEmitter.file(for: c, profile: nil) }
        // A schedule the space no longer accepts is reported with its task.
        do { _ = try KernelEmitter.file(for: c, profile: h100()); Issue.record("emitted an invalid schedule") } catch {
            #expect(error.description.contains(matmul))
        }
    }
}
