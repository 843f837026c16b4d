; Python code nodes. A function directly in a class body (decorated or not) is a method; every
; other def, nested in a function or at module level, is a function. A method also matches the
; function pattern: discovery keeps one node of the more specific type.

(class_definition
  name: (identifier) @class.name) @class.def

(function_definition
  name: (identifier) @function.name) @function.def

(class_definition
  body: (block
    (function_definition
      name: (identifier) @method.name) @method.def))

(class_definition
  body: (block
    (decorated_definition
      definition: (function_definition
        name: (identifier) @method.name) @method.def)))
