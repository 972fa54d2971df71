//! Adaptive schedules over the REST API: the same changes as the CLI,
//! recorded as set by `api`, bounded, and visible in the task's view.

mod support;

use serde_json::json;
use support::Kit;

#[test]
fn overrides_pauses_and_one_shot_runs_over_the_api_are_recorded_as_set_by_api() {
    let mut kit = Kit::new();
    kit.at("2026-03-02T10:00:00Z");
    kit.tasks(
        r#"
[[task]]
name = "poster"
schedule = "0 * * * *"
command = "true"
"#,
    );
    let srv = kit.serve(&[]);
    let body = json!({"schedule": "*/20 * * * *", "for": "2h", "reason": "launch"}).to_string();
    let o = srv
        .post("/v1/tasks/poster/override", &body)
        .status(201)
        .json();
    assert_eq!(o["set_by"], "api");
    assert_eq!(o["ends_at"], "2026-03-02T12:00:00.000Z");
    let next = srv.get("/v1/tasks/poster/next?count=3").status(200).json();
    let ats: Vec<&str> = next["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        ats,
        [
            "2026-03-02T10:20:00.000Z",
            "2026-03-02T10:40:00.000Z",
            "2026-03-02T11:00:00.000Z"
        ]
    );
    assert_eq!(next["runs"][0]["source"], "override");
    let task = srv.get("/v1/tasks/poster").status(200).json();
    assert_eq!(task["in_force"]["source"], "override");
    assert_eq!(task["next"], "2026-03-02T10:20:00.000Z");
    // Bounded, explained, and named when wrong.
    let e = srv
        .post(
            "/v1/tasks/poster/pause",
            &json!({"for": "30d", "reason": "x"}).to_string(),
        )
        .status(422)
        .json();
    assert!(e["error"].as_str().unwrap().contains("at most 7d"), "{e}");
    let e = srv
        .post("/v1/tasks/poster/pause", &json!({"for": "1h"}).to_string())
        .status(422)
        .json();
    assert!(e["error"].as_str().unwrap().contains("--reason"), "{e}");
    srv.post(
        "/v1/tasks/poster/pause",
        &json!({"for": "1h", "bogus": 1}).to_string(),
    )
    .status(422);
    srv.post(
        "/v1/tasks/nope/pause",
        &json!({"for": "1h", "reason": "x"}).to_string(),
    )
    .status(404);
    srv.post(
        "/v1/tasks/poster/pause",
        &json!({"until": "10:30", "reason": "quiet"}).to_string(),
    )
    .status(201);
    let at = srv
        .post(
            "/v1/tasks/poster/at",
            &json!({"time": "18:40", "data": "post #7"}).to_string(),
        )
        .status(201)
        .json();
    assert_eq!(at["starts_at"], "2026-03-02T18:40:00.000Z");
    let all = srv.get("/v1/overrides").status(200).json();
    let kinds: Vec<&str> = all["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["schedule", "pause", "at"]);
    let c = srv
        .call("DELETE", "/v1/tasks/poster/override", None)
        .status(200)
        .json();
    assert_eq!(c["cleared"][0]["kind"], "schedule");
    let c = srv
        .call("DELETE", "/v1/tasks/poster/pause", None)
        .status(200)
        .json();
    assert_eq!(c["cleared"][0]["kind"], "pause");
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_overrides WHERE cleared_by = 'api'"),
        2
    );
}
