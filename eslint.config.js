import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: [
      "dist/**",
      "node_modules/**",
      "coverage/**",
      ".bench-build/**",
      ".readme-blocks/**",
      ".test-tools/**",
      "build/**"
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    plugins: { "@effect": effectEslint },
    rules: {
      // The formatter, as effect's own packages use it: `npm run format` applies it, `npm run lint` checks it.
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "no-console": "error",
      "eqeqeq": ["error", "always", { null: "ignore" }]
    }
  },
  {
    files: ["bin/**/*.js", "scripts/**/*.mjs", "eslint.config.js"],
    ...tseslint.configs.disableTypeChecked
  },
  // The dashboard's scripts run in the browser (typechecked against the DOM by tsconfig.browser.json).
  {
    files: ["src/internal/gateway/observe/dashboard/browser/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: "script",
      globals: {
        document: "readonly",
        sessionStorage: "readonly",
        fetch: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        CustomEvent: "readonly"
      }
    }
  },
  // What poll.js, which the page runs first, gives the other scripts.
  {
    files: ["src/internal/gateway/observe/dashboard/browser/*.js"],
    ignores: ["src/internal/gateway/observe/dashboard/browser/poll.js"],
    languageOptions: {
      globals: {
        adminKeyStorage: "readonly",
        adminKeyHeaders: "readonly",
        pollAdmin: "readonly",
        money: "readonly",
        tableCell: "readonly"
      }
    }
  },
  {
    files: ["src/internal/gateway/observe/dashboard/browser/poll.js"],
    rules: { "@typescript-eslint/no-unused-vars": ["error", { vars: "local" }] }
  },
  {
    files: ["src/cli/**", "bench/**", "examples/**", "bin/**", "scripts/**"],
    rules: { "no-console": "off" }
  },
  // Who may import whom (docs/architecture.md, "Who imports whom").
  {
    files: ["src/**/*.ts"],
    ignores: ["src/cli/**", "src/simulator/**", "src/internal/simulator/**", "src/testing.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{
          group: ["**/simulator/*", "**/cli/*", "**/test/*", "**/bench/*", "**/examples/*"],
          message: "The library imports neither the simulator, the command line, tests, the bench nor examples."
        }]
      }]
    }
  },
  {
    files: ["src/simulator/**", "src/internal/simulator/**", "src/testing.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{
          group: ["**/cli/*", "**/test/*", "**/bench/*", "**/examples/*"],
          message: "The simulator imports neither the command line, tests, the bench nor examples."
        }]
      }]
    }
  }
)
