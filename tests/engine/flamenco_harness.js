// Runs a Flamenco job-type script the way Flamenco's Manager does (a plain script whose
// top-level `JOB_TYPE` and `compileJob(job)` are read), with the Manager's globals stubbed after
// Flamenco 3's job-compiler API: author.Task(name, type) -> task with addCommand/addDependency,
// author.Command(type, parameters[, totalFrames]), job.addTask, frameChunker(range, chunkSize)
// (frames exploded from "A-B"/"A..B"/"N" lists, sorted, cut every chunkSize frames, consecutive
// frames merged into "A-B", two frames as "A,B"), path (POSIX), print, formatTimestampLocal.
//
// Usage: node flamenco_harness.js SCRIPT.js '<job settings JSON>'
// Prints {"job_type": ..., "tasks": [{name, type, commands, dependencies}], "settings": ...}
// or {"error": "..."} when compileJob throws (exit status 0 either way; 1 for harness bugs).
"use strict";

const fs = require("fs");
const vm = require("vm");
const nodePath = require("path").posix;

function explode(range) {
    const frames = new Set();
    for (const raw of range.replace(/\.\./g, "-").split(",")) {
        const ends = raw.split("-");
        const num = (s) => {
            if (!/^\s*-?\d+\s*$/.test(s)) throw new Error(`invalid range "${range}": ${raw}`);
            return parseInt(s, 10);
        };
        if (ends.length === 1) frames.add(num(ends[0]));
        else if (ends.length === 2) for (let f = num(ends[0]); f <= num(ends[1]); f++) frames.add(f);
        else throw new Error(`invalid range "${range}": ${raw}`);
    }
    return [...frames].sort((a, b) => a - b);
}

function merge(frames) {
    const out = [];
    const push = (a, b) => {
        if (a === b) out.push(`${a}`);
        else if (a + 1 === b) out.push(`${a}`, `${b}`);
        else out.push(`${a}-${b}`);
    };
    let start = frames[0], prev = frames[0];
    for (const f of frames.slice(1)) {
        if (f > prev + 1) { push(start, prev); start = f; }
        prev = f;
    }
    push(start, prev);
    return out.join(",");
}

function frameChunker(range, chunkSize) {
    range = String(range).trim();
    if (!range) throw new Error("empty range");
    if (!(chunkSize >= 1)) throw new Error(`invalid chunk size, must be positive number: ${chunkSize}`);
    const frames = explode(range);
    if (frames.length === 0) throw new Error("empty range");
    const chunks = [];
    for (let i = 0; i < frames.length; i += chunkSize) chunks.push(merge(frames.slice(i, i + chunkSize)));
    return chunks;
}

function main() {
    const [script, settingsJson] = process.argv.slice(2);
    const tasks = [];
    let nextId = 0;
    const author = {
        Task(name, type) {
            const task = { id: nextId++, name, type, commands: [], dependencies: [] };
            return {
                _task: task,
                addCommand(cmd) { task.commands.push(cmd); },
                addDependency(other) {
                    if (!other || !other._task) throw new Error("addDependency needs a task");
                    task.dependencies.push(other._task.name);
                },
            };
        },
        Command(type, parameters, totalFrames) {
            return { type, parameters, totalFrames };
        },
    };
    const job = {
        name: "shot 010",
        created: new Date("2026-11-27T10:00:00Z"),
        priority: 50,
        settings: JSON.parse(settingsJson),
        metadata: {},
        addTask(t) {
            if (!t || !t._task) throw new Error("addTask needs a task");
            tasks.push(t._task);
        },
    };
    const context = vm.createContext({
        author, frameChunker, path: nodePath, print: () => {},
        formatTimestampLocal: (d) => d.toISOString().replace(/[-:]/g, "").replace(/\..*/, ""),
    });
    vm.runInContext(fs.readFileSync(script, "utf8"), context, { filename: script });
    const jobType = vm.runInContext("JOB_TYPE", context);
    let error = null;
    try {
        vm.runInContext("compileJob", context)(job);
    } catch (e) {
        error = String(e && e.message !== undefined ? e.message : e);
    }
    process.stdout.write(JSON.stringify(error !== null ? { error } :
        { job_type: jobType, tasks, settings: job.settings }));
}

main();
