-- Proposals, and the approvals and rejections of staff, are a projection
-- of the control topic (decision 0028). A proposal records the control
-- offset of the entry that offered it; a command its offset, and once the
-- booking engine's outcome of it is believed, that outcome, the offset it
-- came from and the epoch (the lease revision) of the engine that decided.
ALTER TABLE proposals ADD COLUMN control_offset INTEGER NOT NULL DEFAULT 0;

CREATE TABLE commands (
    command_offset INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL,
    proposal_id    TEXT    NOT NULL,
    data           TEXT    NOT NULL,
    outcome        TEXT,
    outcome_offset INTEGER NOT NULL DEFAULT 0,
    epoch          INTEGER NOT NULL DEFAULT 0,
    replanned      INTEGER NOT NULL DEFAULT 0,
    new_id         TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX commands_undecided ON commands (command_offset) WHERE outcome IS NULL;
CREATE INDEX commands_outcome_offset ON commands (outcome_offset);
