/**
 * Typechecks modules held in memory as if they were files under test/ (so tsconfig.json's paths make
 * "effect-llm-router" and "effect-llm-router/testing" resolve as a user's imports do), in one TypeScript
 * program: the `@example` blocks of the public modules and the TypeScript blocks of README.md and docs/.
 */
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(import.meta.dirname, "..", "..")

/** A module to typecheck, and where its code is written (`where(line)`: that line's place in its source). */
export interface VirtualModule {
  readonly code: string
  readonly where: (line: number) => string
}

/** Every type error of the modules, as "where: message"; empty when they all typecheck. */
export function typeErrors(modules: ReadonlyArray<VirtualModule>): ReadonlyArray<string> {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"))
    }
  })!
  // An example shows a call; the names it binds need not be used afterwards.
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: true,
    noUnusedLocals: false,
    noUnusedParameters: false
  }
  const virtual = new Map(modules.map((module, i) => [path.join(root, "test", `virtualModule${i}.ts`), module]))
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const module = virtual.get(path.resolve(fileName))
    return module !== undefined
      ? ts.createSourceFile(fileName, module.code, languageVersion, true)
      : getSourceFile(fileName, languageVersion, ...rest)
  }
  const fileExists = host.fileExists
  host.fileExists = (fileName) => virtual.has(path.resolve(fileName)) || fileExists(fileName)
  const program = ts.createProgram([...virtual.keys()], options, host)
  return [...virtual].flatMap(([fileName, module]) =>
    ts.getPreEmitDiagnostics(program, program.getSourceFile(fileName)).map((diagnostic) => {
      const at = diagnostic.file !== undefined && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line
        : 0
      return `${module.where(at)}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`
    })
  )
}
