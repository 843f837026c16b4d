; JavaScript code nodes: classes, functions (declarations, and arrow functions or function
; expressions bound to a name) and methods (in a class body, including fields holding an arrow
; function). Functions in object literals and assignments (exports.f = ...) are not nodes.

(class_declaration
  name: (identifier) @class.name) @class.def

(variable_declarator
  name: (identifier) @class.name
  value: (class)) @class.def

(function_declaration
  name: (identifier) @function.name) @function.def

(generator_function_declaration
  name: (identifier) @function.name) @function.def

(variable_declarator
  name: (identifier) @function.name
  value: [(arrow_function) (function_expression) (generator_function)]) @function.def

(class_body
  (method_definition
    name: [(property_identifier) (private_property_identifier) (computed_property_name)] @method.name) @method.def)

(class_body
  (field_definition
    property: [(property_identifier) (private_property_identifier)] @method.name
    value: [(arrow_function) (function_expression)]) @method.def)
