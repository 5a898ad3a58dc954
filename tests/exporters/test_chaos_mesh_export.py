"""`controlroom export chaos-mesh`: the example scenarios, refusals with located lines, --partial, the files
written, and a round trip: the manifests validate against the bundled CRDs and the simulated cluster's Chaos
Mesh stand-in injects them."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlroom.cli import main
from controlroom.engine.planning import plan_scenario
from controlroom.exporters.chaosmesh import EMBED_FIELD, EXPORTED_FROM, Untranslatable, export_chaos_mesh
from controlroom.faults import crd
from controlroom.lab.kube import SimulatedCluster
from controlroom.scenario import load_scenario, load_scenario_text

ROOT = Path(__file__).resolve().parents[2]
K8S = sorted((ROOT / "scenarios").glob("k8s-*.yaml"))
EXPRESSIBLE = ["k8s-network-delay.yaml", "k8s-pod-kill.yaml", "k8s-stress.yaml"]


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def standalone(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every chaos object a written document holds: itself, or each Workflow template's embedded spec."""
    if doc["kind"] != "Workflow":
        return [doc]
    kinds = {v: k for k, v in EMBED_FIELD.items()}
    return [{"apiVersion": doc["apiVersion"], "kind": kinds[key], "metadata": {"name": t["name"], "namespace": "x"},
             "spec": t[key]} for t in doc["spec"]["templates"] for key in t if key in kinds]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["export", "chaos-mesh", *args])
    out, err = capsys.readouterr()
    return code, out, err


def scenario_file(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


KUBE_HEAD = """
version: 1
name: Mixed_Day
hypothesis: checkout holds
environment: staging
unobserved: true
targets:
  checkout:
    kubernetes: {context: prod, namespace: shop, selector: app=checkout, mode: fixed, value: "2"}
  box:
    local: true
blast_radius: {max_targets: 2, max_duration: 5m, allowed_environments: [staging]}
"""


# ---- the example scenarios ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_each_example_is_refused_with_located_lines_and_nothing_written(path: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, str(path), "-o", str(out_dir))
    assert code == 2 and out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines and all(line.startswith(f"{path}:") and "cannot be expressed in Chaos Mesh" in line for line in lines)
    assert any(":16:1: steady_state:" in line for line in lines)  # every example has a steady state at line 16
    assert not out_dir.exists() or not list(out_dir.iterdir())


def test_the_litmus_example_reports_its_litmus_step_at_the_fault() -> None:
    path = ROOT / "scenarios" / "k8s-litmus-pod-delete.yaml"
    with pytest.raises(Untranslatable) as err:
        export_chaos_mesh(load_scenario(path), str(path))
    litmus = [str(p) for p in err.value.problems if "Litmus" in p.message]
    assert litmus == [f"{path}:24:12: step 'pod-delete': litmus-pod-delete on target 'checkout': a Litmus "
                      "ChaosEngine cannot be expressed in Chaos Mesh; write it as a pod-kill or chaos-* step "
                      "(e.g. chaos-pod-failure)"]


@pytest.mark.parametrize("name", EXPRESSIBLE)
@pytest.mark.parametrize("per_step", [False, True], ids=["workflow", "per-step"])
def test_partial_exports_validate_against_the_crds_and_list_what_was_left_out(name: str, per_step: bool) -> None:
    path = ROOT / "scenarios" / name
    scenario = load_scenario(path)
    result = export_chaos_mesh(scenario, str(path), per_step=per_step, partial=True)
    assert result.omitted and all(str(p).startswith(f"{path}:") for p in result.omitted)
    assert len(result.files) == 1
    file_name, text = result.files[0]
    for problem in result.omitted:  # the comment header names every part left out
        assert f"#   {problem}\n" in text
    (doc,) = docs(text)
    assert doc["metadata"]["labels"][EXPORTED_FROM] == scenario.name
    assert doc["metadata"]["namespace"] == "shop"
    objs = standalone(doc)
    assert len(objs) == 1
    for obj in objs:
        assert crd.check(obj) is None
        assert obj["spec"]["selector"] == {"namespaces": ["shop"], "labelSelectors": {"app": "checkout"}}
    target = scenario.targets["checkout"].kubernetes
    assert target is not None
    assert objs[0]["spec"]["mode"] == target.mode
    if per_step:
        assert file_name.startswith("01-") and doc["kind"] == objs[0]["kind"]
    else:
        assert file_name == f"{scenario.name}.workflow.yaml" and doc["kind"] == "Workflow"
        entry, chaos = doc["spec"]["templates"]
        assert entry == {"name": "entry", "templateType": "Serial", "children": [chaos["name"]]}
        assert doc["spec"]["entry"] == "entry"
        step = scenario.steps[0]
        expected = step.duration if step.duration is not None else 30  # pod-kill: its recovery_wait
        assert chaos["deadline"] == f"{expected:g}s"


@pytest.mark.parametrize("name", ["k8s-network-delay.yaml", "k8s-stress.yaml"])
def test_the_chaos_spec_is_the_rooms_own_translation(name: str) -> None:
    """The export writes what the room's plan renders, apart from what the room does at injection: pin the
    chosen pods, and lengthen spec.duration by the leash window."""
    path = ROOT / "scenarios" / name
    scenario = load_scenario(path)
    (plan,) = plan_scenario(scenario)
    render = dict(plan.faults[0].inject[0].args)["manifest"]
    (doc,) = docs(export_chaos_mesh(scenario, str(path), per_step=True, partial=True).files[0][1])
    ours, room = dict(doc["spec"]), dict(render["spec"])
    assert ours.pop("duration") == f"{scenario.steps[0].duration:g}s"
    room.pop("duration")
    assert ours == room
    assert doc["kind"] == render["kind"] and doc["apiVersion"] == render["apiVersion"]


def test_pod_kill_is_podchaos_pod_kill_with_its_grace_period() -> None:
    path = ROOT / "scenarios" / "k8s-pod-kill.yaml"
    (doc,) = docs(export_chaos_mesh(load_scenario(path), str(path), per_step=True, partial=True).files[0][1])
    assert doc["kind"] == "PodChaos"
    assert doc["spec"] == {"action": "pod-kill", "gracePeriod": 0, "mode": "fixed-percent", "value": "40",
                           "selector": {"namespaces": ["shop"], "labelSelectors": {"app": "checkout"}}}


# ---- refusals -------------------------------------------------------------------------------------------------


def test_a_mixed_scenario_is_refused_one_located_line_per_part(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_file(tmp_path, KUBE_HEAD + """
checklist: [on-call knows]
steps:
  - id: delay
    title: slow checkout
    fault: {type: chaos-network-delay, target: checkout, latency: 100ms}
    duration: 5s
  - id: burn
    title: burn the box
    fault: {type: cpu-stress, target: box, workers: 1}
    duration: 5s
    confirm: false
""")
    code, out, err = run_cli(capsys, str(path))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"{path}:13:1: checklist: the facilitator ticks it before the first step; cannot be expressed in Chaos "
        "Mesh; go through it before you apply",
        f"{path}:15:5: step 'delay': the facilitator's gate (confirm) cannot be expressed in Chaos Mesh; the "
        "workflow goes on without waiting (write confirm: false to say that is intended)",
        f"{path}:21:12: step 'burn': cpu-stress on target 'box' (local) cannot be expressed in Chaos Mesh; Chaos "
        "Mesh acts on pods: run it from the room, or write it as a chaos-* step on a kubernetes target",
    ]


def test_partial_omits_them_and_keeps_pauses_and_parallel_faults(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_file(tmp_path, KUBE_HEAD + """
steps:
  - id: both_at_once
    title: two faults
    faults:
      - {type: chaos-network-loss, target: checkout, loss: 10%}
      - {type: chaos-pod-failure, target: checkout}
    duration: 5s
    confirm: false
  - id: breathe
    title: watch
    duration: 20s
    confirm: false
  - id: burn
    title: burn the box
    fault: {type: cpu-stress, target: box, workers: 1}
    duration: 5s
    confirm: false
""")
    out_dir = tmp_path / "out"
    code, _, err = run_cli(capsys, str(path), "--partial", "-o", str(out_dir))
    assert code == 0
    assert f"{path}:27:12: step 'burn': cpu-stress on target 'box' (local) cannot be expressed" in err
    assert "(left out)" in err
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ["mixed-day.workflow.yaml"]
    (doc,) = docs((out_dir / written[0]).read_text())
    by_name = {t["name"]: t for t in doc["spec"]["templates"]}
    assert by_name["entry"]["children"] == ["both-at-once-parallel", "breathe-pause"]
    assert by_name["both-at-once-parallel"]["children"] == ["both-at-once-1", "both-at-once-2"]
    assert by_name["breathe-pause"] == {"name": "breathe-pause", "templateType": "Suspend", "deadline": "20s"}
    assert by_name["both-at-once-1"]["networkChaos"]["loss"] == {"loss": "10"}
    assert by_name["both-at-once-2"]["podChaos"]["action"] == "pod-failure"
    assert not any("burn" in name for name in by_name)
    assert doc["metadata"]["labels"][EXPORTED_FROM] == "Mixed_Day"
    assert all(crd.check(obj) is None for obj in standalone(doc))
    assert "# Omitted (cannot be expressed in Chaos Mesh; written with --partial):" in (out_dir / written[0]).read_text()


def test_a_selector_chaos_mesh_cannot_hold_is_refused_not_widened(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, KUBE_HEAD.replace("selector: app=checkout", "selector: 'app=checkout,tier!=db'")
                         + """
steps:
  - id: fail
    title: fail
    fault: {type: chaos-pod-failure, target: checkout}
    duration: 5s
    confirm: false
""")
    with pytest.raises(Untranslatable) as err:
        export_chaos_mesh(load_scenario(path), str(path), partial=False)
    (problem,) = err.value.problems
    assert (problem.line, problem.col) == (16, 12) and "selector 'app=checkout,tier!=db' has a term other than key=value" in problem.message


def test_non_kubernetes_and_broken_scenarios_are_one_line_exit_2(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(ROOT / "scenarios" / "demo.yaml"), "--partial")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "has no Kubernetes or Chaos Mesh fault" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    code, out, err = run_cli(capsys, str(broken))
    assert code == 2 and out == "" and err.startswith(f"{broken}:") and "Traceback" not in err
    code, _, err = run_cli(capsys, str(tmp_path / "missing.yaml"))
    assert code == 2 and "Traceback" not in err


def test_output_files_are_not_overwritten_without_force_and_output_is_deterministic(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "scenarios" / "k8s-stress.yaml")
    code, first, _ = run_cli(capsys, path, "--partial")
    code2, second, _ = run_cli(capsys, path, "--partial")
    assert code == code2 == 0 and first == second and first.startswith("# Exported from")
    out_dir = tmp_path / "out"
    assert run_cli(capsys, path, "--partial", "--per-step", "-o", str(out_dir))[0] == 0
    written = out_dir / "01-stress.yaml"
    written.write_text("mine\n")
    code, _, err = run_cli(capsys, path, "--partial", "--per-step", "-o", str(out_dir))
    assert code == 2 and "exists; not overwritten (--force to replace it)" in err
    assert written.read_text() == "mine\n"
    assert run_cli(capsys, path, "--partial", "--per-step", "-o", str(out_dir), "--force")[0] == 0
    assert docs(written.read_text())[0]["kind"] == "StressChaos"


def test_an_unwritable_output_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = run_cli(capsys, str(ROOT / "scenarios" / "k8s-stress.yaml"), "--partial", "-o",
                             str(blocker / "sub"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"controlroom: {blocker / 'sub'}: cannot create the output directory")


# ---- round trip: the simulated cluster's Chaos Mesh stand-in accepts and injects them ------------------------


async def test_per_step_manifests_are_injected_by_the_chaos_mesh_stand_in(kube_sample: SimulatedCluster,
                                                                          kube_http: httpx.AsyncClient) -> None:
    """The stand-in does not serve the Workflow kind: the per-step manifests are applied (strict), as a user
    would with `kubectl apply -f DIR`, and each must be selected and injected on checkout pods."""
    for name in ["k8s-network-delay.yaml", "k8s-stress.yaml", "k8s-pod-kill.yaml"]:
        path = ROOT / "scenarios" / name
        result = export_chaos_mesh(load_scenario(path), str(path), per_step=True, partial=True)
        for _, text in result.files:
            (doc,) = docs(text)
            plural = crd.resource(doc["kind"])[1]
            r = await kube_http.post(f"/apis/chaos-mesh.org/v1alpha1/namespaces/shop/{plural}",
                                     params={"fieldValidation": "Strict"}, json=doc)
            assert r.status_code == 201, r.text
            obj_name = doc["metadata"]["name"]

            def injected(plural: str = plural, obj_name: str = obj_name) -> bool:
                obj = kube_sample.get(plural, "shop", obj_name, "chaos-mesh.org") or {}
                conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
                return conds.get("Selected") == "True" and conds.get("AllInjected") == "True"

            await kube_sample.wait_for(injected, 10, f"{doc['kind']} {obj_name} injected")


def test_the_export_reads_phases_too() -> None:
    text = textwrap.dedent(KUBE_HEAD).lstrip() + textwrap.dedent("""
    phases:
      - name: warm
        validation: [x.ready_ratio >= 0.5]
        steps:
          - id: fail
            title: fail
            fault: {type: chaos-pod-failure, target: checkout}
            duration: 5s
            confirm: false
    """)
    text = text.replace("unobserved: true\n", "observe:\n  metrics:\n    x: {kubernetes: checkout}\n")
    scenario = load_scenario_text(text, "p.yaml")
    with pytest.raises(Untranslatable) as err:
        export_chaos_mesh(scenario, "p.yaml")
    assert [p.message.split(":")[0] for p in err.value.problems] == ["phase 'warm'"]
    result = export_chaos_mesh(scenario, "p.yaml", partial=True)
    assert [t["name"] for t in docs(result.files[0][1])[0]["spec"]["templates"]] == ["entry", "fail"]


# ---- the Workflow against Chaos Mesh's own Workflow CRD (test data: tests/exporters/data/SOURCES.md) -----------


def workflow_schema() -> Any:
    import gzip

    from controlroom.lab.kube.schema import VersionSchema

    with gzip.open(Path(__file__).parent / "data" / "chaos-mesh.org_workflows.yaml.gz", "rt", encoding="utf-8") as f:
        doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in doc["spec"]["versions"] if v["served"] and v["storage"]]
    return VersionSchema("Workflow", "chaos-mesh.org", version["name"], version["schema"]["openAPIV3Schema"])


def test_every_written_workflow_is_valid_for_the_workflow_crd(tmp_path: Path) -> None:
    from controlroom.lab.kube.status import ApiError

    schema = workflow_schema()
    written = [export_chaos_mesh(load_scenario(ROOT / "scenarios" / n), n, partial=True).files[0][1]
               for n in EXPRESSIBLE]
    mixed = scenario_file(tmp_path, KUBE_HEAD + """
steps:
  - id: both
    title: two faults
    faults:
      - {type: chaos-network-loss, target: checkout, loss: 10%}
      - {type: chaos-time-offset, target: checkout, offset: -10m}
    duration: 5s
    confirm: false
  - id: breathe
    title: watch
    duration: 20s
    confirm: false
  - id: kill
    title: kill
    fault: {type: pod-kill, target: checkout}
    confirm: false
""")
    written.append(export_chaos_mesh(load_scenario(mixed), str(mixed)).files[0][1])
    for text in written:
        (doc,) = docs(text)
        assert doc["kind"] == "Workflow"
        schema.admit(doc, strict=True)  # raises ApiError with the located field when invalid
    (doc,) = docs(written[0])
    doc["spec"]["templates"][1]["networkChaos"]["latencyy"] = "1s"
    with pytest.raises(ApiError, match="unknown field"):
        schema.admit(doc, strict=True)  # the check is strict: it would have caught a typo in the export


def test_per_step_headers_say_when_to_apply_each_manifest(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, KUBE_HEAD + """
steps:
  - id: both
    title: two faults
    faults:
      - {type: chaos-network-loss, target: checkout, loss: 10%}
      - {type: chaos-pod-failure, target: checkout}
    duration: 5s
    confirm: false
  - id: breathe
    title: watch
    duration: 20s
    confirm: false
  - id: kill
    title: kill
    fault: {type: pod-kill, target: checkout}
    confirm: false
""")
    files = export_chaos_mesh(load_scenario(path), str(path), per_step=True).files
    assert [name for name, _ in files] == ["01-both-1.yaml", "02-both-2.yaml", "03-kill.yaml"]
    heads = [next(line for line in text.splitlines() if line.startswith("# Manifest")) for _, text in files]
    assert heads == [
        "# Manifest 1 of 3: step 'both' (two faults); apply it first; it holds 5s.",
        "# Manifest 2 of 3: step 'both' (two faults); apply it together with manifest 1 (the same step); it holds 5s.",
        "# Manifest 3 of 3: step 'kill' (kill); apply it after the previous step ended and a 20s pause.",
    ]


def test_long_names_stay_distinct_kubernetes_names(tmp_path: Path) -> None:
    long = "x" * 70
    path = scenario_file(tmp_path, KUBE_HEAD.replace("name: Mixed_Day", f"name: {long}") + """
steps:
  - id: first_step
    title: one
    fault: {type: chaos-pod-failure, target: checkout}
    duration: 5s
    confirm: false
  - id: first-step
    title: two
    fault: {type: chaos-pod-failure, target: checkout}
    duration: 5s
    confirm: false
""")
    files = export_chaos_mesh(load_scenario(path), str(path), per_step=True).files
    names = [docs(text)[0]["metadata"]["name"] for _, text in files]
    assert names == ["x" * 52 + "-first-step", "x" * 50 + "-first-step-2"]
    assert all(len(n) <= 63 for n in names)
    (workflow,) = docs(export_chaos_mesh(load_scenario(path), str(path)).files[0][1])
    assert workflow["metadata"]["name"] == "x" * 63
    assert workflow["metadata"]["labels"][EXPORTED_FROM] == "x" * 63
    assert [t["name"] for t in workflow["spec"]["templates"]] == ["entry", "first-step", "first-step-2"]


_STEP_TEXT = st.sampled_from([
    "{type: chaos-pod-failure, target: checkout}", "{type: pod-kill, target: checkout}",
    "{type: cpu-stress, target: box, workers: 1}", "{type: litmus-pod-delete, target: checkout}",
    "{type: chaos-mesh, target: checkout, cr: {kind: PodChaos, spec: {action: pod-failure}}}",
    "{type: chaos-network-delay, target: checkout, latency: 1ms, bogus: 1}", "[unclosed", "{type: 7}",
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.lists(_STEP_TEXT, min_size=1, max_size=3), confirm=st.booleans(), partial=st.booleans(),
       garbage=st.binary(max_size=40))
def test_any_scenario_is_exported_or_refused_in_located_lines_never_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], faults: list[str], confirm: bool, partial: bool,
        garbage: bytes) -> None:
    steps = "".join(f"  - id: s{i}\n    title: t\n    fault: {f}\n    duration: 5s\n    confirm: {str(confirm).lower()}\n"
                    for i, f in enumerate(faults))
    path = tmp_path / "fuzz.yaml"
    path.write_bytes((textwrap.dedent(KUBE_HEAD).lstrip() + "steps:\n" + steps).encode() + garbage)
    code = main(["export", "chaos-mesh", str(path), *(["--partial"] if partial else [])])
    out, err = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert out == "" and err.strip()
        assert all(line.startswith((f"{path}:", "controlroom: ")) for line in err.splitlines())
    else:
        assert all(crd.check(obj) is None for obj in standalone(docs(out)[0]))


def test_a_line_break_in_the_path_stays_inside_the_comment(tmp_path: Path) -> None:
    path = ROOT / "scenarios" / "k8s-stress.yaml"
    (_, text), = export_chaos_mesh(load_scenario(path), "a\nkind: Secret\n#", partial=True).files
    assert all(line.startswith("#") for line in text.split("apiVersion:")[0].splitlines())
    assert docs(text)[0]["kind"] == "Workflow"
