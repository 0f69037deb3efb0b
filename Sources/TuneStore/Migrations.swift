import GRDB

/// The schema's history. A shipped migration is never edited: changes are new migrations.
enum Schema {
    /// The last migration that changed what readers read (tables and columns): a read-only
    /// reader opens any database that has it, later migrations (indexes) or not.
    static let readable = "v4"
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "campaigns") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("workload", .text).notNull()
                t.column("state", .text).notNull().check { ["running", "completed", "cancelled"].contains($0) }
                t.column("trialsPerTask", .integer).notNull().check { $0 > 0 }
                t.column("batchSize", .integer).notNull().check { $0 > 0 }
                t.column("plan", .text).notNull()
                t.column("seed", .integer).notNull()
                t.column("createdAt", .double).notNull()
                t.column("finishedAt", .double)
            }
            try db.create(table: "tasks") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("campaign", inTable: "campaigns").notNull()
                t.column("name", .text).notNull()
                t.column("weight", .integer).notNull().check { $0 > 0 }
                t.uniqueKey(["campaignId", "name"])
            }
            try db.create(table: "jobs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("campaign", inTable: "campaigns").notNull()
                t.belongsTo("task", inTable: "tasks").notNull()
                t.column("deviceClass", .text).notNull()
                t.column("trials", .integer).notNull().check { $0 > 0 }
                t.column("state", .text).notNull().check { ["running", "completed"].contains($0) }
                t.uniqueKey(["taskId", "deviceClass"])
            }
            try db.create(table: "candidates") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("job", inTable: "jobs").notNull()
                t.column("schedule", .text).notNull()
                t.column("hash", .text).notNull()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                // Random search without repeats, enforced where it cannot be bypassed.
                t.uniqueKey(["jobId", "hash"])
            }
            try db.create(table: "measurements") { t in
                t.autoIncrementedPrimaryKey("id")
                // One measurement per candidate: redelivered results are no-ops.
                t.belongsTo("candidate", inTable: "candidates").notNull().unique()
                t.belongsTo("job", inTable: "jobs").notNull()
                t.column("agent", .text).notNull()
                t.column("device", .text).notNull()
                t.column("status", .text).notNull()
                t.column("medianSeconds", .double)
                t.column("samples", .text).notNull()
                t.column("compileSeconds", .double).notNull()
                t.column("error", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("createdAt", .double).notNull()
            }
            try db.create(index: "measurements_job", on: "measurements", columns: ["jobId", "status"])
            try db.create(table: "baselines") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("job", inTable: "jobs").notNull()
                t.column("device", .text).notNull()
                t.column("library", .text).notNull()
                t.column("status", .text).notNull()
                t.column("medianSeconds", .double)
                t.column("samples", .text).notNull()
                t.column("error", .text).notNull()
                t.column("createdAt", .double).notNull()
                t.uniqueKey(["jobId", "device"])
            }
            try db.create(table: "devices") { t in
                t.primaryKey("fingerprint", .text)
                t.column("deviceClass", .text).notNull()
                t.column("model", .text).notNull()
                t.column("profile", .text).notNull()
                t.column("firstSeen", .double).notNull()
            }
            try db.create(table: "agents") { t in
                t.primaryKey("instance", .text)
                t.column("name", .text).notNull()
                t.column("device", .text).notNull()
                t.column("firstSeen", .double).notNull()
                t.column("lastSeen", .double).notNull()
            }
        }
        // v2: the search half. Which strategy proposed each candidate, with which model and
        // what it predicted; the campaign's search and scheduler; trained models.
        m.registerMigration("v2") { db in
            try db.alter(table: "campaigns") { t in
                t.add(column: "search", .text).notNull().defaults(to: "random")
                t.add(column: "scheduler", .text).notNull().defaults(to: "round-robin")
            }
            try db.alter(table: "candidates") { t in
                t.add(column: "proposer", .text).notNull().defaults(to: "random")
                t.add(column: "modelVersion", .integer)
                t.add(column: "predicted", .double)
            }
            try db.create(table: "models") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("kind", .text).notNull()
                t.column("deviceClass", .text)
                t.column("featureSchemaVersion", .integer).notNull()
                t.column("parameters", .text).notNull()
                t.column("query", .text).notNull()
                t.column("records", .integer).notNull().check { $0 >= 0 }
                t.column("recordHash", .text).notNull()
                t.column("trainingSeconds", .double).notNull()
                t.column("metrics", .text).notNull()
                t.column("blob", .blob).notNull()
                t.column("baseId", .integer).references("models")
                t.column("createdAt", .double).notNull()
            }
            try db.create(index: "candidates_job", on: "candidates", columns: ["jobId"])
            try db.create(index: "campaigns_state", on: "campaigns", columns: ["state"])
        }
        // v3: campaign budgets, and what each vendor baseline ran.
        m.registerMigration("v3") { db in
            try db.alter(table: "campaigns") { t in
                // Trials over the whole workload, per device class (nil: trialsPerTask per task).
                t.add(column: "budget", .integer).check { $0 > 0 }
            }
            // The vendor library's kernel set and version, as the agent reported them.
            try db.alter(table: "baselines") { t in t.add(column: "detail", .text).notNull().defaults(to: "{}") }
        }
        m.registerMigration("v4") { db in
            // A wall-clock limit (`--time`), seconds since 1970 when every job ends.
            try db.alter(table: "campaigns") { t in t.add(column: "deadline", .double) }
        }
        m.registerMigration("v5") { db in
            // Status asks each job for its count, failures and best time many times a second:
            // with the time in the index the best is a seek, not a scan of the job's results
            // (18 ms a status at 20,000 results; the old (jobId, status) index is its prefix).
            try db.create(index: "measurements_job_best", on: "measurements", columns: ["jobId", "status", "medianSeconds"])
            // Indexes that others begin with: each cost every commit a B-tree insert for nothing
            // (candidates had three on jobId, counting its unique (jobId, hash)).
            for redundant in ["measurements_job", "measurements_on_jobId", "candidates_job", "candidates_on_jobId"] {
                try db.execute(sql: "DROP INDEX IF EXISTS \(redundant)")
            }
        }
        return m
    }
}
