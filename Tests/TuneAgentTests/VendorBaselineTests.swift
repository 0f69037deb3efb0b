import Testing
import TuneAgent
import TuneCore

@Suite struct VendorBaseline {
    @Test func aTaskWithoutAVendorRoutineSaysSoInsteadOfBlamingASchedule() throws {
        let task = try TaskSpec(op: .softmax, params: ["rows": 4, "cols": 8])
        let r = CPURunner(profile: DeviceProfile(deviceClass: .cpu, model: "test")).measureVendor(task: task, plan: MeasurePlan())
        #expect(r.isMissingVendorRoutine)
        #expect(r.detail[MeasureResult.vendorRoutineKey] == "missing")
        #expect(r.detail["library"] == "openblas", "names the library that lacks the routine")
        #expect(r.samples.isEmpty)
        #expect(r.errorText == "openblas has no routine for softmax")
    }

    @Test func aRejectedCandidateIsNotAMissingVendorRoutine() {
        #expect(!MeasureResult(candidateID: 7, status: .invalidSchedule, detail: [MeasureResult.vendorRoutineKey: "missing"]).isMissingVendorRoutine)
        #expect(!MeasureResult(candidateID: 0, status: .invalidSchedule).isMissingVendorRoutine)
    }
}
