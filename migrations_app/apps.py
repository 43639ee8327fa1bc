from django.apps import AppConfig


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "Data Migrator"

    def ready(self) -> None:
        from migrations_app import signals  # noqa: F401 (connects the receivers)
