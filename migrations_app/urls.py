from django.urls import path

from migrations_app.views import home, mappings, runs, schedules, seeding

app_name = "migrations_app"

urlpatterns = [
    path("", home.home, name="home"),
    path("runs/", runs.run_list, name="run-list"),
    path("runs/new/", runs.run_new, name="run-new"),
    path("runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/progress/", runs.run_progress, name="run-progress"),
    path("runs/<int:run_id>/issues/", runs.run_issues, name="run-issues"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run-cancel"),
    path("runs/<int:run_id>/resume/", runs.run_resume, name="run-resume"),
    path("runs/<int:run_id>/again/", runs.run_again, name="run-again"),
    path("runs/<int:run_id>/rollback/", seeding.run_rollback, name="run-rollback"),
    path("runs/new/seeding/", seeding.run_seeding_notes, name="run-seeding-notes"),
    path("runs/<int:run_id>/success.csv", runs.run_success_csv, name="run-success-csv"),
    path("runs/<int:run_id>/errors.csv", runs.run_errors_csv, name="run-errors-csv"),
    path(
        "pairs/<int:source_id>/<int:target_id>/",
        home.org_pair,
        name="org-pair",
    ),
    path("mappings/", mappings.mapping_index, name="mapping-list"),
    path("mappings.csv", mappings.mapping_csv, name="mapping-csv"),
    path("mappings/preflight/", mappings.mapping_preflight, name="mapping-preflight"),
    path("mappings/<int:mapping_id>/", mappings.mapping_detail, name="mapping-detail"),
    path(
        "mappings/<int:mapping_id>/relink/",
        mappings.mapping_relink,
        name="mapping-relink",
    ),
    path(
        "mappings/<int:mapping_id>/retire/",
        mappings.mapping_retire,
        name="mapping-retire",
    ),
    path(
        "mappings/<int:mapping_id>/delete-duplicate/",
        mappings.mapping_delete_duplicate,
        name="mapping-delete-duplicate",
    ),
    path(
        "pairs/<int:source_id>/<int:target_id>/audit/",
        mappings.pair_audit,
        name="pair-audit",
    ),
    path(
        "pairs/<int:source_id>/<int:target_id>/audit/start/",
        mappings.pair_audit_start,
        name="pair-audit-start",
    ),
    path(
        "pairs/<int:source_id>/<int:target_id>/adopt-twins/",
        mappings.pair_adopt_twins,
        name="pair-adopt-twins",
    ),
    path("schedules/", schedules.schedule_list, name="schedule-list"),
    path("schedules/new/", schedules.schedule_new, name="schedule-new"),
    path(
        "schedules/<int:schedule_id>/",
        schedules.schedule_detail,
        name="schedule-detail",
    ),
    path(
        "schedules/<int:schedule_id>/edit/",
        schedules.schedule_edit,
        name="schedule-edit",
    ),
    path(
        "schedules/<int:schedule_id>/toggle/",
        schedules.schedule_toggle,
        name="schedule-toggle",
    ),
    path("audits/<int:audit_id>/", mappings.audit_detail, name="audit-detail"),
    path(
        "audits/<int:audit_id>/progress/",
        mappings.audit_progress,
        name="audit-progress",
    ),
]
