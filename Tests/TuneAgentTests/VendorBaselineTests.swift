import Testing
import TuneAgent
import TuneCore

@Suite struct VendorBaseline {
    /// Softmax has no OpenBLAS routine but a oneDNN primitive: the baseline is oneDNN's, and
    /// the missing library is named rather than blamed on a schedule.
    @Test func aTaskOneLibraryLacksIsTimedWithTheOtherAndTheGapIsNamed() throws {
        let task = try TaskSpec(op: .softmax, params: ["rows": 4, "cols": 8])
        var plan = MeasurePlan()
        plan.minRepeatSeconds = 0.001
        let r = CPURunner(profile: DeviceProfile(deviceClass: .cpu, model: "test")).measureVendor(task: task, plan: plan)
        #expect(r.status == .ok, "\(r.errorText)")
        #expect(!r.isMissingVendorRoutine)
        #expect(r.detail["library"] == "onednn")
        #expect(r.detail["libraries_missing"]?.contains("openblas has no routine for softmax") == true)
        #expect(r.detail["onednn_version"]?.isEmpty == false)
    }

    /// Every library with the task is verified and timed; the baseline is the fastest, and
    /// every library's time is kept beside it.
    @Test func theBaselineIsTheFastestLibraryAndEveryLibrarysTimeIsKept() throws {
        let task = try TaskSpec(op: .matmul, params: ["m": 64, "n": 96, "k": 80, "bias": 1, "act": 2])
        var plan = MeasurePlan()
        plan.minRepeatSeconds = 0.001
        let r = CPURunner(profile: DeviceProfile(deviceClass: .cpu, model: "test")).measureVendor(task: task, plan: plan)
        #expect(r.status == .ok, "\(r.errorText)")
        var seconds: [String: Double] = [:]
        for library in ["openblas", "onednn", "blis"] {
            seconds[library] = try #require(r.detail["seconds_\(library)"].flatMap(Double.init), "\(library)")
        }
        let fastest = try #require(seconds.min { $0.value < $1.value })
        #expect(r.medianSeconds == fastest.value)
        #expect(r.detail["library"] == fastest.key)
        for library in ["openblas", "onednn", "blis"] {
            #expect(r.detail["libraries"]?.contains("\(library)=") == true, "\(library) was timed")
        }
        #expect(r.detail["openblas_core"] != nil && r.detail["onednn_impl"] != nil && r.detail["blis_arch"] != nil, "what each library ran")
    }

    @Test func aRejectedCandidateIsNotAMissingVendorRoutine() {
        #expect(!MeasureResult(candidateID: 7, status: .invalidSchedule, detail: [MeasureResult.vendorRoutineKey: "missing"]).isMissingVendorRoutine)
        #expect(!MeasureResult(candidateID: 0, status: .invalidSchedule).isMissingVendorRoutine)
    }
}
