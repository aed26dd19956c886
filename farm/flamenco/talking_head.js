// SPDX-License-Identifier: GPL-3.0-or-later
//
// Talking Head: a Flamenco 3 custom job type (docs/farm.md#flamenco).
// Copy this file into the Manager's `scripts/` folder (next to flamenco-manager) and restart it;
// the Flamenco add-on in Blender then offers "Talking Head" as a job type.
//
// The job: one capture task (claims the job folder, saves the keyed copy of the .blend there;
// captures only when the portrait has no keys yet) -> render tasks, one Blender process per
// chunk of frames (Flamenco's frameChunker; every chunk writes only its own frames) -> one encode
// task (frames -> talking_head.mp4 with the scene's sound). Each task runs the extension's
// command `blender --disable-autoexec -b FILE -c talking_head ...`, the same as the Open Job
// Description template.

const JOB_TYPE = {
    label: "Talking Head",
    description: "Capture, render in chunks and encode a Talking Head portrait",
    settings: [
        // Settings for artists to determine:
        { key: "frames", type: "string", required: true,
          eval: "f'{C.scene.frame_start}-{C.scene.frame_end}'",
          evalInfo: { showLinkButton: true, description: "Scene frame range" },
          description: "Scene frames to render, both ends included: '1-250' or '1..250' (one range)" },
        { key: "chunk_size", type: "int32", default: 10, propargs: { min: 1 }, visible: "submission",
          description: "Frames per render task; each task starts Blender and loads the renderer once, " +
                       "so bigger chunks amortise that start-up" },
        { key: "portrait", type: "string", default: "", visible: "submission",
          description: "Portrait name (may be left empty when the file has only one)" },
        { key: "device", type: "string", default: "cpu", choices: ["cpu", "cuda", "auto"],
          visible: "submission",
          description: "Render device; the same on every worker so chunks match bit for bit" },

        // render_output_root + add_path_components determine the job folder (as Flamenco's own
        // job types do); each job gets a folder of its own (timestamped).
        { key: "render_output_root", type: "string", subtype: "dir_path", required: true,
          visible: "submission", description: "Base folder for the job's output (shared storage)" },
        { key: "add_path_components", type: "int32", required: true, default: 0,
          propargs: { min: 0, max: 32 }, visible: "submission",
          description: "Number of path components of the .blend's path to add to the output folder" },
        { key: "job_dir", type: "string", subtype: "dir_path", editable: false,
          eval: "str(Path(abspath(settings.render_output_root), last_n_dir_parts(settings.add_path_components), jobname, '{timestamp}'))",
          description: "The job's folder: frames/, talking_head.mp4, the keyed .blend" },

        // Automatically evaluated settings:
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "Path of the .blend to render" },
    ],
};

// Before the .blend on every Blender command line: a submitted file never runs its own scripts, even
// on a worker whose preferences allow "Auto Run Python Scripts" or whose Manager's {blenderArgs}
// is Flamenco's default "-b -y" (Blender applies -y / -Y in order: the later one wins).
const NO_AUTOEXEC = ["--disable-autoexec"];
// At most this many tasks per job, as the Open Job Description bundle (engine/limits.py MAX_TASKS):
// schedulers choke on more, and each task starts Blender.
const MAX_TASKS = 10000;

// ---- frame ranges: inclusive, as Blender and Flamenco write them -------------------------------

// "A-B" or "A..B" (both ends included) or "N" -> [first, last]; anything else is refused,
// because the encode task makes one continuous movie.
function parseOneRange(text) {
    const m = /^\s*(-?\d+)\s*(?:(?:-|\.\.)\s*(-?\d+))?\s*$/.exec(String(text));
    if (!m) {
        throw `Talking Head: frames "${text}" must be one range A-B or A..B (both ends included), e.g. 1-250`;
    }
    const first = parseInt(m[1], 10);
    const last = m[2] === undefined ? first : parseInt(m[2], 10);
    if (last < first) {
        throw `Talking Head: frames "${text}" are reversed; give the first frame first, e.g. ${last}-${first}`;
    }
    return [first, last];
}

function jobId(job) {
    // Claims the job folder; a retried task of the same job presents the same id.
    const stamp = formatTimestampLocal(job.created);
    return `${stamp}-${job.name || "job"}`.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 64);
}

// ---- the job ----------------------------------------------------------------------------------

function compileJob(job) {
    const settings = job.settings;
    const [first, last] = parseOneRange(settings.frames);
    if (first < 0) {
        // Flamenco's frameChunker reads "-" as the range separator only.
        throw `Talking Head: frames "${settings.frames}" start below 0, which Flamenco's chunker cannot split; move the portrait to frame 0 or later`;
    }
    const count = last - first + 1;
    const chunkSize = settings.chunk_size;
    if (!(chunkSize >= 1)) {
        throw `Talking Head: chunk size ${chunkSize} must be at least 1 frame`;
    }
    if (chunkSize > count) {
        throw `Talking Head: chunk size ${chunkSize} is larger than the frame range ${first}-${last} (${count} frames); use at most ${count}`;
    }
    const tasks = Math.ceil(count / chunkSize);
    if (tasks > MAX_TASKS) {
        throw `Talking Head: ${count} frames in chunks of ${chunkSize} make ${tasks} tasks; use a chunk size of ${Math.ceil(count / MAX_TASKS)} or more (at most ${MAX_TASKS} tasks per job)`;
    }
    const jobDir = jobFolder(job);
    settings.job_dir = jobDir;  // show the folder actually used when the job is inspected later
    const id = jobId(job);
    const jobBlend = path.join(jobDir, "talking_head_job.blend");
    const portraitArgs = ["--portrait", settings.portrait || ""];
    const jobArgs = ["--job-dir", jobDir, "--job-id", id];

    const capture = author.Task("talking-head-capture", "blender");
    capture.addCommand(author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: NO_AUTOEXEC,
        blendfile: settings.blendfile,
        args: ["-c", "talking_head", "capture", "--blend", settings.blendfile]
            .concat(portraitArgs, ["--keep-keys"], jobArgs),
    }));
    job.addTask(capture);

    const encode = author.Task("talking-head-encode", "blender");
    for (const chunk of frameChunker(`${first}-${last}`, chunkSize)) {
        const render = author.Task(`talking-head-render-${chunk}`, "blender");
        render.addCommand(author.Command("blender-render", {
            exe: "{blender}",
            exeArgs: "{blenderArgs}",
            argsBefore: NO_AUTOEXEC,
            blendfile: jobBlend,
            args: ["-c", "talking_head", "render", "--blend", jobBlend]
                .concat(portraitArgs, ["--frames", chunk, "--device", settings.device || "cpu"], jobArgs),
        }, chunkFrameCount(chunk)));
        render.addDependency(capture);
        encode.addDependency(render);
        job.addTask(render);
    }
    encode.addCommand(author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: NO_AUTOEXEC,
        blendfile: jobBlend,
        args: ["-c", "talking_head", "encode", "--blend", jobBlend]
            .concat(portraitArgs, ["--frames", `${first}-${last}`], jobArgs),
    }));
    job.addTask(encode);
}

function jobFolder(job) {
    const p = job.settings.job_dir;
    if (!p) {
        throw "Talking Head: no job_dir setting (set the output root when submitting)";
    }
    return p.replace(/{([^}]+)}/g, (match, key) =>
        key === "timestamp" ? formatTimestampLocal(job.created) : match);
}

// Frames in a chunk string made by frameChunker ("1-10", "4,5", "9-10,20-27").
function chunkFrameCount(chunk) {
    let n = 0;
    for (const part of String(chunk).split(",")) {
        const ends = part.split("-");
        n += ends.length === 2 ? parseInt(ends[1], 10) - parseInt(ends[0], 10) + 1 : 1;
    }
    return n;
}
