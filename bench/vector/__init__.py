"""Vector search benchmark (`bench run vector`): recall against exact search, index
sweeps, filtered search (iterative scans, RLS), comparison at matched recall.

    configs.toml / configs.py   index configurations as data (build vs query-time sweep)
    dataset.py                  the scratch copy of the documents, queries, filter cases
    truth.py                    exact neighbours by chunked brute force, cached; recall
    measure.py                  index builds and asyncpg timing (sweeps, filtered, RLS)
    matched.py                  matched-recall selection, comparisons, verdicts, Pareto
    run.py                      the whole run -> the results.json `vector` section
    command.py                  the click command
"""
