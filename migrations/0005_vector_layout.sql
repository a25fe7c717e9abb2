-- Vector tables of layout 2, created from now on, hold unit vectors under
-- the L2 metric (sqlite-vec's AVX kernel computes L2, not cosine; on unit
-- vectors both order results alike), are split into shards searched in
-- parallel and partitioned by date, and keep a binary-quantised copy of
-- every vector for an optional coarse scan. Tables of layout 1 (cosine,
-- one shard, date as metadata) keep working as they are.
ALTER TABLE index_models ADD COLUMN layout INTEGER NOT NULL DEFAULT 1 CHECK (layout IN (1, 2));
ALTER TABLE index_models ADD COLUMN shards INTEGER NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 16);
ALTER TABLE index_models ADD COLUMN bits INTEGER NOT NULL DEFAULT 0 CHECK (bits IN (0, 1));
