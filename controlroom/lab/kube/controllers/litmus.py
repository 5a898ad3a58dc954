"""A LitmusChaos stand-in: chaos-operator's ChaosEngine lifecycle and a pod-delete experiment run in-process.

What is simulated (litmuschaos/chaos-operator controllers/chaosengine_controller.go, litmus-go pod-delete):
* an empty `spec.engineState` becomes `active`; an active engine is `initialized`, gets the
  `chaosengine.litmuschaos.io/finalizer` and an Event ChaosEngineInitialized;
* each experiment of `spec.experiments` runs in turn: the ChaosExperiment of that name must exist in
  the engine's namespace ("ChaosExperiment Not Found" otherwise); its `spec.definition.env` gives the
  defaults, the engine's `components.env` overrides them. `status.experiments[]` shows it Running
  (verdict Awaited), and a ChaosResult `<engine>-<experiment>` (label `chaosUID`) follows it;
* pod-delete: every CHAOS_INTERVAL seconds until TOTAL_CHAOS_DURATION has passed, deletes
  PODS_AFFECTED_PERC % of the target pods (at least one) — TARGET_PODS by name, or `appinfo.applabel`
  in `appinfo.appns` (the engine's namespace if empty) — with grace 0 when FORCE is true;
* done: experiment Completed with verdict Pass (Fail if no target was found), ChaosResult Completed,
  `status.engineStatus: completed`, `spec.engineState: stop`, finalizer removed;
* patched to `engineState: stop` while running: the run ends at once, experiments read
  "Forcefully Aborted" (verdict Stopped), `engineStatus: stopped`, ChaosResult Stopped, finalizer removed;
  set back to `active`, the engine restarts. Deleted: the run ends and the finalizer is removed.
It acts only while its marker Deployment `litmus/chaos-operator-ce` has a ready replica.

Not simulated: runner and experiment pods, probes, any experiment but pod-delete (those end with
verdict Fail, "not simulated"), `annotationCheck`, RAMP_TIME, SEQUENCE (pods are deleted together).
Litmus durations are whole seconds; `Timings.litmus_scale` shortens them for tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from controlroom.lab.kube._util import random_suffix, rfc3339
from controlroom.lab.kube.controllers.base import Controller, copy_of
from controlroom.lab.kube.controllers.workloads import active
from controlroom.lab.kube.resources import ResourceType
from controlroom.lab.kube.selectors import parse_label_selector
from controlroom.lab.kube.status import ApiError

Obj = dict[str, Any]

GROUP = "litmuschaos.io"
ENGINE_FINALIZER = "chaosengine.litmuschaos.io/finalizer"
CONTROLLER_NAMESPACE, CONTROLLER_DEPLOYMENT = "litmus", "chaos-operator-ce"
ABORTED = "Forcefully Aborted"


@dataclass
class Run:
    experiment: str
    index: int
    env: dict[str, str]
    started: float
    end: float
    interval: float
    next_kill: float
    kills_left: int = 0  # rounds still to run: counted, not compared as floats (start + 0.1 + 0.1 < start + 0.2
    #                      for some starts, which gave a 2 s / 1 s experiment a third round now and then)
    targets: list[str] = field(default_factory=list)
    error: str = ""


class LitmusController(Controller):
    name = "litmus"
    component = "chaos-operator"
    watches = (f"{GROUP}/chaosengines", f"{GROUP}/chaosexperiments", "apps/deployments")

    def __init__(self, cluster: Any):
        super().__init__(cluster)
        self.rng = random.Random(cluster.config.seed)
        self._runs: dict[str, Run] = {}

    def running(self) -> bool:
        dep = self.store.find(self.cluster.rt("deployments"), CONTROLLER_NAMESPACE, CONTROLLER_DEPLOYMENT)
        return bool(dep and (dep.get("status") or {}).get("readyReplicas", 0) >= 1)

    def reconcile(self, now: float) -> float | None:
        engine_rt = self.cluster.find_rt("chaosengines", GROUP)
        if engine_rt is None or not self.running():
            return None
        next_in: float | None = None
        alive = set()
        for engine in list(self.store.query(engine_rt)):
            alive.add(engine["metadata"]["uid"])
            wait = self._engine(engine_rt, engine, now)
            if wait is not None:
                next_in = wait if next_in is None else min(next_in, wait)
        for uid in [u for u in self._runs if u not in alive]:
            del self._runs[uid]
        return next_in

    def _engine(self, rt: ResourceType, engine: Obj, now: float) -> float | None:
        meta, spec = engine["metadata"], engine.get("spec") or {}
        status = engine.get("status") or {}
        uid = meta["uid"]
        state, engine_status = spec.get("engineState") or "", status.get("engineStatus") or ""
        if meta.get("deletionTimestamp"):
            self._runs.pop(uid, None)
            if ENGINE_FINALIZER in (meta.get("finalizers") or []):
                new = copy_of(engine)
                new["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != ENGINE_FINALIZER]
                self.write(rt, new)
            return None
        if state == "":
            new = copy_of(engine)
            new.setdefault("spec", {})["engineState"] = "active"
            self.write(rt, new)
            return 0.0
        if state == "active" and engine_status == "":
            new = copy_of(engine)
            new.setdefault("status", {})["engineStatus"] = "initialized"
            new["status"].setdefault("experiments", [])
            if not meta.get("finalizers"):
                new["metadata"]["finalizers"] = [ENGINE_FINALIZER]
            self.write(rt, new)
            self.event(rt, engine, "Normal", "ChaosEngineInitialized",
                       f"Identifying app under test & launching {meta['name']}-runner")
            return 0.0
        if state == "active" and engine_status == "initialized":
            return self._progress(rt, engine, now)
        if state == "stop" and engine_status == "initialized":
            self._abort(rt, engine)
            return None
        if state == "active" and engine_status in ("stopped", "completed"):
            self._runs.pop(uid, None)
            new = copy_of(engine)
            new["status"]["engineStatus"] = "initialized"
            new["status"]["experiments"] = []
            new["metadata"]["finalizers"] = [f for f in meta.get("finalizers") or [] if f != ENGINE_FINALIZER]
            if not new["metadata"]["finalizers"]:
                new["metadata"].pop("finalizers")
            self.write(rt, new)
            self.event(rt, engine, "Normal", "RestartInProgress", "ChaosEngine is restarted")
            return 0.0
        return None

    # -- a run ---------------------------------------------------------------------------------------------

    def _progress(self, rt: ResourceType, engine: Obj, now: float) -> float | None:
        meta, spec = engine["metadata"], engine.get("spec") or {}
        uid = meta["uid"]
        appinfo = spec.get("appinfo") or {}
        if bool(appinfo.get("appkind")) != bool(appinfo.get("applabel")):
            new = copy_of(engine)
            new["spec"]["engineState"] = "stop"
            self.write(rt, new)
            self.event(rt, engine, "Warning", "ChaosResourcesOperationFailed",
                       "(chaos start) Unable to get chaos resources: incomplete appinfo, provide appkind and "
                       "applabel both")
            return None
        experiments = spec.get("experiments") or []
        run = self._runs.get(uid)
        if run is None:
            done = len([e for e in (engine.get("status") or {}).get("experiments") or []
                        if e.get("status") not in ("Running", "Waiting for Job Creation")])
            if done >= len(experiments):
                self._complete(rt, engine)
                return None
            run = self._start(rt, engine, done, now)
            if run is None:
                return 0.0
        if run.error:
            self._finish_experiment(rt, engine, run, verdict="Fail")
            return 0.0
        while now >= run.next_kill and run.kills_left > 0:
            self._kill(engine, run)
            run.kills_left -= 1
            run.next_kill += run.interval
        if now >= run.end:
            self._finish_experiment(rt, engine, run, verdict="Pass" if run.targets else "Fail")
            return 0.0
        return (min(run.next_kill, run.end) if run.kills_left > 0 else run.end) - now

    def _start(self, rt: ResourceType, engine: Obj, index: int, now: float) -> Run | None:
        meta, spec = engine["metadata"], engine.get("spec") or {}
        exp_spec = (spec.get("experiments") or [])[index]
        name = exp_spec.get("name", "")
        exp_rt = self.cluster.find_rt("chaosexperiments", GROUP)
        experiment = self.store.find(exp_rt, meta["namespace"], name) if exp_rt else None
        new = copy_of(engine)
        entry = {"name": name, "runner": f"{meta['name']}-runner", "experimentPod": f"{name}-{random_suffix(6)}",
                 "status": "Running", "verdict": "Awaited", "lastUpdateTime": rfc3339()}
        exps = new["status"].setdefault("experiments", [])
        if experiment is None:
            entry.update(status="ChaosExperiment Not Found", verdict="Fail")
            exps.append(entry)
            self.write(rt, new)
            return None
        env = {e["name"]: str(e.get("value", "")) for e in
               ((experiment.get("spec") or {}).get("definition") or {}).get("env") or [] if "name" in e}
        for e in ((exp_spec.get("spec") or {}).get("components") or {}).get("env") or []:
            if "name" in e:
                env[e["name"]] = str(e.get("value", ""))
        scale = self.cluster.config.timings.litmus_scale
        error = ""
        try:
            total = int(env.get("TOTAL_CHAOS_DURATION") or 15)
            interval = int(env.get("CHAOS_INTERVAL") or 5)
        except ValueError as err:
            error, total, interval = f"invalid duration: {err}", 0, 1
        if name != "pod-delete":
            error = f"simulated cluster: experiment {name} is not simulated (only pod-delete is)"
        exps.append(entry)
        self.write(rt, new)
        self._result(engine, name, phase="Running", verdict="Awaited")
        # Litmus's pod-delete loop: a round every CHAOS_INTERVAL while less than TOTAL_CHAOS_DURATION has passed,
        # i.e. ceil(total / interval) rounds (whole seconds, so counted exactly before scaling).
        rounds = -(-total // interval) if interval > 0 and total > 0 else 0
        run = Run(name, index, env, now, now + total * scale, max(interval * scale, 0.001), now, kills_left=rounds,
                  error=error)
        self._runs[meta["uid"]] = run
        return run

    def _kill(self, engine: Obj, run: Run) -> None:
        meta, spec = engine["metadata"], engine.get("spec") or {}
        appinfo = spec.get("appinfo") or {}
        ns = appinfo.get("appns") or meta["namespace"]
        pod_rt = self.cluster.rt("pods")
        names = [n.strip() for n in (run.env.get("TARGET_PODS") or "").split(",") if n.strip()]
        if names:
            pods = [p for n in names if (p := self.store.find(pod_rt, ns, n)) is not None and active(p)]
        elif appinfo.get("applabel"):
            try:
                labels = parse_label_selector(appinfo["applabel"])
            except ApiError:
                run.error = f"invalid applabel {appinfo['applabel']!r}"
                return
            pods = [p for p in self.store.query(pod_rt, ns, labels) if active(p)]
        else:
            run.error = "please provide one of the appLabel or TARGET_PODS"
            return
        if not pods:
            return
        try:
            pct = int(run.env.get("PODS_AFFECTED_PERC") or 0)
        except ValueError:
            pct = 0
        count = max(1, round(pct * len(pods) / 100)) if pct else 1
        chosen = self.rng.sample(pods, min(count, len(pods)))
        force = (run.env.get("FORCE") or "").lower() == "true"
        for pod in chosen:
            pmeta = pod["metadata"]
            try:
                self.store.delete(pod_rt, ns, pmeta["name"], grace=0 if force else None)
            except ApiError as err:
                if err.code != 404:
                    raise
            run.targets.append(pmeta["name"])

    def _finish_experiment(self, rt: ResourceType, engine: Obj, run: Run, verdict: str) -> None:
        meta = engine["metadata"]
        new = copy_of(engine)
        for e in new["status"].get("experiments") or []:
            if e.get("name") == run.experiment and e.get("status") == "Running":
                e.update(status="Completed", verdict=verdict, lastUpdateTime=rfc3339())
        self.write(rt, new)
        self._result(engine, run.experiment, phase="Completed", verdict=verdict, targets=run.targets,
                     fail_step=run.error or ("" if run.targets else "no target pod found"))
        self._runs.pop(meta["uid"], None)

    def _complete(self, rt: ResourceType, engine: Obj) -> None:
        new = copy_of(engine)
        new["status"]["engineStatus"] = "completed"
        new["spec"]["engineState"] = "stop"
        fins = [f for f in new["metadata"].get("finalizers") or [] if f != ENGINE_FINALIZER]
        if fins:
            new["metadata"]["finalizers"] = fins
        else:
            new["metadata"].pop("finalizers", None)
        self.write(rt, new)
        self.event(rt, engine, "Normal", "ChaosEngineCompleted",
                   "ChaosEngine completed, will delete or retain the resources according to jobCleanUpPolicy")

    def _abort(self, rt: ResourceType, engine: Obj) -> None:
        meta = engine["metadata"]
        run = self._runs.pop(meta["uid"], None)
        new = copy_of(engine)
        for e in new["status"].get("experiments") or []:
            if e.get("status") in ("Running", "Waiting for Job Creation"):
                e.update(status=ABORTED, verdict="Stopped", lastUpdateTime=rfc3339())
        new["status"]["engineStatus"] = "stopped"
        fins = [f for f in new["metadata"].get("finalizers") or [] if f != ENGINE_FINALIZER]
        if fins:
            new["metadata"]["finalizers"] = fins
        else:
            new["metadata"].pop("finalizers", None)
        if run is not None:
            self._result(engine, run.experiment, phase="Stopped", verdict="Stopped", targets=run.targets)
        self.write(rt, new)
        self.event(rt, engine, "Normal", "ChaosEngineStopped", "Chaos resources deleted successfully")

    def _result(self, engine: Obj, experiment: str, phase: str, verdict: str, targets: list[str] | None = None,
                fail_step: str = "") -> None:
        res_rt = self.cluster.find_rt("chaosresults", GROUP)
        if res_rt is None:
            return
        meta = engine["metadata"]
        name = f"{meta['name']}-{experiment}"
        current = self.store.find(res_rt, meta["namespace"], name)
        history = copy_of((current or {}).get("status", {}).get("history") or
                          {"passedRuns": 0, "failedRuns": 0, "stoppedRuns": 0})
        if phase == "Completed":
            history["passedRuns" if verdict == "Pass" else "failedRuns"] += 1
        elif phase == "Stopped":
            history["stoppedRuns"] += 1
        if targets:
            history["targets"] = [{"name": t, "kind": "pod", "chaosStatus": "targeted"} for t in targets]
        exp_status: Obj = {"phase": phase, "verdict": verdict, "probeSuccessPercentage":
                           "Awaited" if phase == "Running" else ("100" if verdict == "Pass" else "0")}
        if fail_step:
            exp_status["errorOutput"] = {"reason": fail_step, "errorCode": "GENERIC_ERROR"}
        status = {"experimentStatus": exp_status, "history": history}
        try:
            if current is None:
                body = {"metadata": {"name": name, "namespace": meta["namespace"],
                                     "labels": {"chaosUID": meta["uid"], "name": name,
                                                "app.kubernetes.io/component": "experiment-job"}},
                        "spec": {"engine": meta["name"], "experiment": experiment}, "status": status}
                self.store.create(res_rt, meta["namespace"], body)
            else:
                new = copy_of(current)
                new["status"] = status
                new["metadata"].setdefault("labels", {})["chaosUID"] = meta["uid"]
                self.write_status(res_rt, new)
        except ApiError as err:
            if err.code not in (403, 404):
                raise


__all__ = ["ABORTED", "ENGINE_FINALIZER", "LitmusController"]
