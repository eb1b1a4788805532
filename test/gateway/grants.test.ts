/**
 * The roles granted to people through the admin API against their store's contract (`contract/grants.ts`) on each
 * backend the gateway keeps them in: SQLite and Postgres (`layerSql`; a gateway without a database has no grants).
 */
import * as Grants from "../../src/internal/gateway/identity/grants.js"
import { grantsContract } from "../contract/grants.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("grants", Grants.GrantStore, Grants)) grantsContract(backend)
