/**
 * Decides, from a chat template's syntax tree, whether message contents only ever
 * reach the output verbatim. When they do, rendering an example equals rendering a
 * "skeleton" (each non-empty content replaced by a unique placeholder) and pasting
 * the contents back, so one Jinja render serves every example with the same roles
 * and fields: one render per example alone would cap validation well below its target
 * (docs/PERFORMANCE.md, "Why the code is shaped so").
 *
 * The check is conservative: anything it does not recognise makes the template
 * "not opaque", and every example is then rendered by Jinja (exact, slower).
 * Allowed uses of `<message>.content` (also `['content']`):
 *  - output as is, or as an operand of `+`/`~` chains or the branches of an inline
 *    `if` that are output as is (never through a filter, macro, call or `set`);
 *  - truthiness in an `if`/inline-`if` condition (possibly under not/and/or), and
 *    the tests `is string|defined|undefined|none` — placeholders keep emptiness and type.
 * A message object itself may only be indexed by a literal key (not called, not
 * passed to a filter or output whole), and `messages` only iterated, indexed,
 * sliced, reversed or measured with `length`.
 */
type Node = { type: string; [key: string]: unknown };

const STATEMENT_LISTS: Record<string, string[]> = {
  Program: ['body'],
  If: ['body', 'alternate'],
  For: ['body', 'defaultBlock'],
};
const CONTENT_TESTS = new Set(['string', 'defined', 'undefined', 'none']);
const CONTAINER_FILTERS = new Set(['reverse', 'list']);

export function isContentOpaque(program: unknown): boolean {
  const parents = new Map<Node, { parent: Node; key: string }>();
  const nodes: Node[] = [];
  const visit = (node: Node) => {
    nodes.push(node);
    for (const [key, value] of Object.entries(node)) {
      if (key === 'operator') continue; // a lexer token, not a node
      const children = Array.isArray(value) ? value : value instanceof Map ? [...value.entries()].flat() : [value];
      for (const child of children) {
        if (isNode(child)) {
          parents.set(child, { parent: node, key });
          visit(child);
        }
      }
    }
  };
  visit(program as Node);

  const containers = new Set(['messages']);
  const messages = new Set<string>();
  const kind = (n: unknown): 'container' | 'message' | null => {
    if (!isNode(n)) return null;
    if (n.type === 'Identifier')
      return containers.has(n.value as string) ? 'container' : messages.has(n.value as string) ? 'message' : null;
    if (n.type === 'MemberExpression') {
      const object = n.object as Node;
      if (
        object.type === 'Identifier' &&
        object.value === 'loop' &&
        isNode(n.property) &&
        ['previtem', 'nextitem'].includes(n.property.value as string)
      )
        return 'message';
      if (kind(object) === 'container' && n.computed) return (n.property as Node).type === 'SliceExpression' ? 'container' : 'message';
    }
    if (
      n.type === 'FilterExpression' &&
      kind(n.operand) === 'container' &&
      filterName(n.filter) !== null &&
      CONTAINER_FILTERS.has(filterName(n.filter)!)
    )
      return 'container';
    return null;
  };
  // Names bound to messages or lists of them, through `for` and `set`, to a fixpoint.
  for (let changed = true; changed; ) {
    changed = false;
    for (const n of nodes) {
      const bind = (target: unknown, k: 'container' | 'message' | null) => {
        if (!k || !isNode(target) || target.type !== 'Identifier') return;
        const set = k === 'container' ? containers : messages;
        if (!set.has(target.value as string)) {
          set.add(target.value as string);
          changed = true;
        }
      };
      if (n.type === 'For') bind(n.loopvar, kind(n.iterable) === 'container' ? 'message' : null);
      if (n.type === 'Set') bind(n.assignee, kind(n.value));
    }
  }

  for (const n of nodes) {
    const k = kind(n);
    if (k === null) continue;
    const up = parents.get(n);
    if (!up) return false;
    const { parent, key } = up;
    if (parent.type === 'For' && key === 'loopvar') continue;
    if (parent.type === 'Set' && key === 'assignee') continue;
    if (parent.type === 'Set' && key === 'value') continue;
    if (parent.type === 'TestExpression' && key === 'operand') continue;
    if (parent.type === 'MemberExpression' && key === 'object' && kind(parent) !== null) continue;
    if (k === 'container') {
      if (parent.type === 'For' && key === 'iterable') continue;
      if (
        parent.type === 'FilterExpression' &&
        key === 'operand' &&
        ['length', ...CONTAINER_FILTERS].includes(filterName(parent.filter) ?? '')
      )
        continue;
      return false;
    }
    // A message: only `message.key` / `message['key']` with a literal key, not a method.
    if (parent.type !== 'MemberExpression' || key !== 'object') return false;
    const name = literalKey(parent);
    if (name === null) return false;
    const grand = parents.get(parent);
    if (grand && grand.parent.type === 'CallExpression' && grand.key === 'callee') return false;
    if (name === 'content' && !contentUseIsVerbatim(parent, parents)) return false;
  }
  return true;
}

function contentUseIsVerbatim(content: Node, parents: Map<Node, { parent: Node; key: string }>): boolean {
  for (let a = parents.get(content); a; a = parents.get(a.parent)) {
    if (['Macro', 'FilterStatement', 'CallStatement'].includes(a.parent.type)) return false;
    if (a.parent.type === 'Set' && a.key === 'body') return false;
  }
  const up = parents.get(content);
  if (up?.parent.type === 'TestExpression' && CONTENT_TESTS.has(((up.parent.test as Node)?.value as string) ?? '')) return true;
  // Truthiness: a chain of not/and/or that ends in a condition.
  let node = content;
  for (let a = parents.get(node); a; a = parents.get(node)) {
    const p = a.parent;
    if ((p.type === 'If' && a.key === 'test') || (p.type === 'Ternary' && a.key === 'condition')) return true;
    const op = operator(p);
    if (!(p.type === 'UnaryExpression' && op === 'not') && !(p.type === 'BinaryExpression' && (op === 'and' || op === 'or'))) break;
    node = p;
  }
  // Output: a chain of +, ~ and inline-if branches that ends as a statement.
  node = content;
  for (let a = parents.get(node); a; a = parents.get(node)) {
    const p = a.parent;
    if ((STATEMENT_LISTS[p.type] ?? []).includes(a.key)) return true;
    const op = operator(p);
    const concat = p.type === 'BinaryExpression' && (op === '+' || op === '~');
    const branch = p.type === 'Ternary' && (a.key === 'trueExpr' || a.key === 'falseExpr');
    if (!concat && !branch) return false;
    node = p;
  }
  return false;
}

function literalKey(member: Node): string | null {
  const property = member.property as Node;
  if (!member.computed && property.type === 'Identifier') return property.value as string;
  if (member.computed && property.type === 'StringLiteral') return property.value as string;
  return null;
}

function filterName(filter: unknown): string | null {
  if (!isNode(filter)) return null;
  if (filter.type === 'Identifier') return filter.value as string;
  if (filter.type === 'CallExpression' && isNode(filter.callee) && filter.callee.type === 'Identifier')
    return filter.callee.value as string;
  return null;
}

function operator(n: Node): string | null {
  const op = n.operator as { value?: string } | undefined;
  return op?.value ?? null;
}

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !(value instanceof Map) && typeof (value as Node).type === 'string';
}
