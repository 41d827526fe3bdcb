from tests.conftest import seed_tiny


def test_shared_tiny_has_every_variant(shared_tiny_dsn):
    import psycopg

    with psycopg.connect(shared_tiny_dsn) as conn:
        for variant in ("baseline", "review", "hardened"):
            assert conn.execute(f"SELECT count(*) FROM {variant}.documents").fetchone()[0] == 3000
