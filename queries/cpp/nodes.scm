; C++ code nodes: namespaces, classes, structs, unions and enums with a body, and function
; definitions (not declarations). A function defined in a class body is a method, and so is one
; defined outside with a qualified name (void Shape::draw() {...}): tree-sitter cannot tell a class
; scope from a namespace there, so `ns::f() {...}` is a method too. Qualified names use '.'
; (Shape.draw). A template's node is the templated definition, without its template<...> line.
; Queries cannot recurse: a name is found through up to two pointer or reference declarators.

(namespace_definition
  name: [(namespace_identifier) (nested_namespace_specifier)] @namespace.name) @namespace.def

(class_specifier
  name: [(type_identifier) (template_type)] @class.name
  body: (field_declaration_list)) @class.def

(struct_specifier
  name: [(type_identifier) (template_type)] @struct.name
  body: (field_declaration_list)) @struct.def

(union_specifier
  name: (type_identifier) @union.name
  body: (field_declaration_list)) @union.def

(enum_specifier
  name: (type_identifier) @enum.name
  body: (enumerator_list)) @enum.def

; Functions, wherever they are; the patterns below make those in a class body (or with a
; qualified name) methods.
(function_definition
  declarator: (function_declarator
    declarator: [(identifier) (field_identifier) (operator_name) (destructor_name) (template_function)] @function.name)) @function.def

(function_definition
  declarator: (_
    (function_declarator
      declarator: [(identifier) (field_identifier) (operator_name) (destructor_name) (template_function)] @function.name))) @function.def

(function_definition
  declarator: (_
    (_
      (function_declarator
        declarator: [(identifier) (field_identifier) (operator_name) (destructor_name) (template_function)] @function.name)))) @function.def

; Methods defined in a class body, templates included.
(field_declaration_list
  (function_definition
    declarator: (function_declarator
      declarator: (_) @method.name)) @method.def)

(field_declaration_list
  (function_definition
    declarator: (_
      (function_declarator
        declarator: (_) @method.name))) @method.def)

(field_declaration_list
  (template_declaration
    (function_definition
      declarator: (function_declarator
        declarator: (_) @method.name)) @method.def))

(field_declaration_list
  (template_declaration
    (function_definition
      declarator: (_
        (function_declarator
          declarator: (_) @method.name))) @method.def))

; Methods defined outside their class: void Shape::draw() {...}, Shape::Shape() {...}.
(function_definition
  declarator: (function_declarator
    declarator: (qualified_identifier) @method.name)) @method.def

(function_definition
  declarator: (_
    (function_declarator
      declarator: (qualified_identifier) @method.name))) @method.def
